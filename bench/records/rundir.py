"""Results on disk: one directory per run, append-only JSONL plus atomically replaced JSON.

    run.json         schema version, config, machine fingerprint, git state, runs summary
    runs.jsonl       one line per strategy run when it ends (status, wall, threads, workers)
    trials.jsonl     one line per finished trial, appended as it finishes
    samples.jsonl    probe samples (process tree, stacks, notes), appended as taken
    heartbeats.jsonl progress beats from inside trials
    trace.jsonl      `bench watch` only: the trial tracer's hook status and ask events, written
                     from inside the watched program (its trials go to trials.jsonl)

This is the one loader of a results directory: run.json is checked for its schema version and
shape (a wrong one is a ResultsError that says what to do), and every JSONL line is checked
against its record's shape (bench.records.schema). A line that is not JSON (a writer killed
mid-line), not an object, or has a field of the wrong type is skipped, and each file's skipped
lines are reported once, with their count, as a SkippedLinesWarning.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from bench.errors import ConfigError, ResultsError
from bench.records import schema
from bench.records.files import check_regular, load_versioned, open_regular, write_json_atomic
from bench.records.schema import Heartbeat, RunMeta, RunRow, Sample, TrialRow
from probes.sink import JsonlSink

__all__ = [
    "HEARTBEATS_FILE", "RUNS_FILE", "RUN_FILE", "SAMPLES_FILE", "SCHEMA_VERSION", "TRIALS_FILE",
    "JsonlSink", "RunDir", "SkippedLinesWarning", "check_name", "iter_jsonl", "load_meta", "open_run",
    "read_jsonl", "write_json_atomic",
]

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
RUNS_FILE = "runs.jsonl"
TRIALS_FILE = "trials.jsonl"
SAMPLES_FILE = "samples.jsonl"
HEARTBEATS_FILE = "heartbeats.jsonl"
# How many `-N` suffixes RunDir.create tries before giving up (concurrent runs with one name).
MAX_NAME_TRIES = 1000
MAX_NAME_CHARS = 120

R = TypeVar("R")


class SkippedLinesWarning(UserWarning):
    """Lines of a JSONL file were skipped: not JSON (a writer died mid-line), not an object, or a
    field of the wrong type. One warning per file, with the count and the first bad line."""


@dataclass
class Skipped:
    """The lines of one file that were not records."""

    count: int = 0
    first: str = ""

    def add(self, lineno: int, why: str) -> None:
        self.count += 1
        if not self.first:
            self.first = f"line {lineno}: {why}"


def iter_jsonl(
    path: Path, check: Callable[[object], R], skipped: Skipped | None = None,
) -> Iterator[R]:
    """Records of a JSONL file that pass `check` (a schema.check_* function); bad lines are
    counted in `skipped` (or, without one, reported in a SkippedLinesWarning when the file is
    done). A missing file has none; one
    that is not a regular file (a directory, a FIFO) is a ResultsError."""
    tally = skipped if skipped is not None else Skipped()
    try:
        fd = open_regular(path, path.name)
    except ResultsError:
        if not os.path.lexists(path):
            return
        raise
    with os.fdopen(fd, "rb") as fh:
        try:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    data = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    tally.add(lineno, "not JSON (truncated or damaged)")
                    continue
                try:
                    yield check(data)
                except schema.ShapeError as exc:
                    tally.add(lineno, str(exc))
        except OSError as exc:
            raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    if skipped is None and tally.count:
        warnings.warn(skipped_message(path.name, tally), SkippedLinesWarning, stacklevel=2)


def skipped_message(name: str, s: Skipped) -> str:
    lines = "line" if s.count == 1 else "lines"
    return f"{s.count} {lines} skipped in {name} ({s.first})"


def read_jsonl(path: Path, check: Callable[[object], R]) -> list[R]:
    """All records of a JSONL file (see iter_jsonl); bad lines skipped with one warning."""
    skipped = Skipped()
    rows = list(iter_jsonl(path, check, skipped))
    if skipped.count:
        warnings.warn(skipped_message(path.name, skipped), SkippedLinesWarning, stacklevel=2)
    return rows


def check_name(name: str) -> str:
    """A results directory name must be one path component: no separator, no `..`, nothing that
    is not printable, so `--name` can never write outside `--out`."""
    what = f"results directory name {name[:MAX_NAME_CHARS]!r}"
    if not name or name in (".", ".."):
        raise ConfigError(f"{what} is not a directory name")
    if "/" in name or "\\" in name or os.sep in name:
        raise ConfigError(f"{what} must be one directory name, not a path (no '/')")
    if any(not ch.isprintable() for ch in name):
        raise ConfigError(f"{what} holds a control character")
    if len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"results directory name is {len(name)} characters; at most {MAX_NAME_CHARS}")
    return name


def check_out(root: str | Path) -> Path:
    """Create the results root if needed; a root that is not a writable directory is a
    ConfigError (exit 2) before anything runs."""
    p = Path(root)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"--out {p} exists and is not a directory") from None
    except OSError as exc:
        raise ConfigError(f"--out {p}: cannot create it: {exc.strerror or exc}") from None
    if not p.is_dir():
        raise ConfigError(f"--out {p} is not a directory")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {p} is not writable")
    return p


@dataclass
class RunDir:
    """A results directory: create it for a new run or open a saved one."""

    path: Path
    # Per file name, the lines skipped by the readers below (for `bench report` to say so).
    skipped: dict[str, Skipped] = field(default_factory=dict, compare=False)

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    def file(self, name: str) -> Path:
        return self.path / name

    def appender(self, name: str) -> JsonlSink:
        return JsonlSink(self.path / name)

    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> RunDir:
        """A new, empty directory under `root`: `name` (a timestamp by default), or `name-2`,
        `name-3`, ... when it is taken. mkdir itself decides, so concurrent runs given one name
        each get their own directory."""
        base_name = check_name(name) if name is not None else time.strftime("%Y%m%d-%H%M%S")
        parent = check_out(root)
        for i in range(1, MAX_NAME_TRIES + 1):
            path = parent / (base_name if i == 1 else f"{base_name}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(f"cannot create results directory {path}: {exc.strerror or exc}") from None
            return cls(path)
        raise ConfigError(f"{MAX_NAME_TRIES} results directories named {base_name!r} exist in {parent}")

    def write_meta(self, meta: RunMeta | dict[str, Any]) -> None:
        meta = {"schema_version": SCHEMA_VERSION, **meta}
        write_json_atomic(self.run_file, meta)

    def meta(self) -> RunMeta:
        return load_meta(self.path)

    def _read(self, name: str, check: Callable[[object], R], run: str | None) -> list[R]:
        tally = Skipped()
        rows = [r for r in iter_jsonl(self.file(name), check, tally)
                if run is None or cast(dict[str, Any], r).get("run") == run]
        if tally.count:
            self.skipped[name] = tally
            warnings.warn(skipped_message(name, tally), SkippedLinesWarning, stacklevel=3)
        return rows

    def trials(self, run: str | None = None) -> list[TrialRow]:
        return self._read(TRIALS_FILE, schema.check_trial, run)

    def runs(self) -> list[RunRow]:
        return self._read(RUNS_FILE, schema.check_run, None)

    def samples(self, run: str | None = None) -> list[Sample]:
        return self._read(SAMPLES_FILE, schema.check_sample, run)

    def heartbeats(self, run: str | None = None) -> list[Heartbeat]:
        return self._read(HEARTBEATS_FILE, schema.check_heartbeat, run)


REMEDY = "re-run `bench compare` with this version, or use the corebench that wrote it"


def load_meta(path: str | Path) -> RunMeta:
    """run.json of a results directory, checked for schema version and shape."""
    p = Path(path)
    try:
        if not p.is_dir():
            raise ResultsError(f"results directory {p} does not exist")
    except OSError as exc:  # a name too long, a loop of symlinks
        raise ResultsError(f"results directory {p}: {exc.strerror or exc}") from None
    f = p / RUN_FILE
    if not os.path.lexists(f):
        raise ResultsError(f"{p} is not a corebench results directory (no {RUN_FILE})")
    data = load_versioned(f, RUN_FILE, SCHEMA_VERSION, REMEDY)
    try:
        return schema.check_meta(data)
    except schema.ShapeError as exc:
        raise ResultsError(f"{f} is damaged: {exc}") from None


def open_run(path: str | Path) -> RunDir:
    load_meta(path)
    rd = RunDir(Path(path))
    for name in (RUNS_FILE, TRIALS_FILE, SAMPLES_FILE, HEARTBEATS_FILE):
        f = rd.file(name)
        if os.path.lexists(f):
            check_regular(f, name)
    return rd
