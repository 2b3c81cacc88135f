"""Results on disk: one directory per run, append-only JSONL plus atomically replaced JSON.

    run.json         schema version, config, machine fingerprint, git state, runs summary
    runs.jsonl       one line per strategy run when it ends (status, wall, threads, workers)
    trials.jsonl     one line per finished trial, appended as it finishes
    samples.jsonl    probe samples (process tree, stacks, notes), appended as taken
    heartbeats.jsonl progress beats from inside trials
    trace.jsonl      `bench watch` only: the trial tracer's hook status and ask events, written
                     from inside the watched program (its trials go to trials.jsonl)

A crash mid-write can leave a truncated last line; readers skip it with a warning.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import ResultsError

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
RUNS_FILE = "runs.jsonl"
TRIALS_FILE = "trials.jsonl"
SAMPLES_FILE = "samples.jsonl"
HEARTBEATS_FILE = "heartbeats.jsonl"


class TruncatedLineWarning(UserWarning):
    """A JSONL file ended in a partial line (a writer died mid-write); the line was skipped."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class JsonlAppender:
    """Thread-safe appender: one write() of one full line per record, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records; a bad line is skipped with a TruncatedLineWarning, the rest kept."""
    return list(iter_jsonl(path))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                warnings.warn(
                    f"{path.name}:{lineno}: skipped a truncated or corrupt line", TruncatedLineWarning,
                    stacklevel=2,
                )


@dataclass
class RunDir:
    """A results directory: create it for a new run or open a saved one."""

    path: Path

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    def file(self, name: str) -> Path:
        return self.path / name

    def appender(self, name: str) -> JsonlAppender:
        return JsonlAppender(self.path / name)

    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> RunDir:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(root) / (name or stamp)
        path, i = base, 1
        while path.exists():
            i += 1
            path = base.with_name(f"{base.name}-{i}")
        path.mkdir(parents=True)
        return cls(path)

    def write_meta(self, meta: dict[str, Any]) -> None:
        meta = {"schema_version": SCHEMA_VERSION, **meta}
        write_json_atomic(self.run_file, meta)

    def meta(self) -> dict[str, Any]:
        return load_meta(self.path)

    def trials(self, run: str | None = None) -> list[dict[str, Any]]:
        rows = read_jsonl(self.file(TRIALS_FILE))
        return [r for r in rows if run is None or r.get("run") == run]

    def runs(self) -> list[dict[str, Any]]:
        return read_jsonl(self.file(RUNS_FILE))

    def samples(self, run: str | None = None) -> list[dict[str, Any]]:
        rows = read_jsonl(self.file(SAMPLES_FILE))
        return [r for r in rows if run is None or r.get("run") == run]

    def heartbeats(self, run: str | None = None) -> list[dict[str, Any]]:
        rows = read_jsonl(self.file(HEARTBEATS_FILE))
        return [r for r in rows if run is None or r.get("run") == run]


def load_meta(path: str | Path) -> dict[str, Any]:
    """run.json of a results directory, checked for existence and schema version."""
    p = Path(path)
    if not p.is_dir():
        raise ResultsError(f"results directory {p} does not exist")
    f = p / RUN_FILE
    try:
        meta = json.loads(f.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{p} is not a corebench results directory (no {RUN_FILE})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {f}: {exc}") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{f} does not hold a JSON object: not a corebench run record")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{f} has schema version {version}, this corebench reads {SCHEMA_VERSION}: "
            "re-run `bench compare` with this version, or use the corebench that wrote it"
        )
    return meta


def open_run(path: str | Path) -> RunDir:
    load_meta(path)
    return RunDir(Path(path))
