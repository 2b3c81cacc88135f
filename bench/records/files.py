"""The one place corebench opens a file it did not just write: JSON, versioned JSON, TOML, and the
atomic JSON writer.

Every reader refuses what is not a regular file (a FIFO, a device, a directory) before reading
from it, so a FIFO put where run.json belongs cannot block a report forever, and turns every
failure (missing, unreadable, binary, not JSON, not an object) into one error line.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from bench.errors import BenchError, ResultsError

# A results file larger than this is not one corebench wrote (run.json is a few kB, sweep.json
# tens of kB); reading it whole would only exhaust memory.
MAX_JSON_BYTES = 64 * 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: Path, what: str, error: type[BenchError] = ResultsError) -> int:
    """A read-only descriptor of `path`, which must be a regular file.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; the type is
    then checked on the open descriptor (no race with a rename) and the flag cleared for reading.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket or a FIFO-like node that cannot be opened
            raise error(f"{what} {path} is not a regular file") from None
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{what} {path} is {_kind(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def check_regular(path: Path, what: str, error: type[BenchError] = ResultsError) -> None:
    """Refuse `path` unless it is a regular file (without reading it)."""
    os.close(open_regular(path, what, error))


def read_bytes(path: Path, what: str, error: type[BenchError] = ResultsError, limit: int = MAX_JSON_BYTES) -> bytes:
    fd = open_regular(path, what, error)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {path} is over {limit // (1024 * 1024)} MB: not a file corebench wrote")
    return data


def read_json_object(path: Path, what: str, error: type[BenchError] = ResultsError) -> dict[str, Any]:
    """The JSON object in `path`; anything else (binary, not JSON, a list, a number) is `error`."""
    raw = read_bytes(path, what, error)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not text (binary or damaged)") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} holds a JSON {json_type(data)}, not an object: damaged or not ours")
    return data


def json_type(value: object) -> str:
    """JSON's name for the type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else type(value).__name__


def load_versioned(path: Path, what: str, version: int, remedy: str, kind: str | None = None) -> dict[str, Any]:
    """A versioned JSON object (run.json, sweep.json): its `schema_version` (and `kind`, when
    given) must match, else a ResultsError that says what to do (`remedy`)."""
    data = read_json_object(path, what)
    if kind is not None and data.get("kind") != kind:
        raise ResultsError(f"{path} is not a corebench {what}")
    found = data.get("schema_version")
    if found != version:
        shown = "none" if found is None else repr(found)
        raise ResultsError(f"{path} has schema version {shown}, this corebench reads {version}: {remedy}")
    return data


def read_toml(path: Path, what: str, error: type[BenchError]) -> dict[str, Any]:
    """A TOML file's table; a missing, unreadable, non-UTF-8 or invalid file is `error`."""
    raw = read_bytes(path, what, error)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"invalid TOML in {what} {path}: {exc}") from None


# The mode the JSONL appenders (probes.sink) create files with, before the umask.
FILE_MODE = 0o644


def _umask() -> int:
    # Linux reports it without changing it; os.umask can only read it by setting it, which
    # would race with other threads creating files, so it is the fallback.
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync, then rename over `path`.

    mkstemp makes the file 0600; it is given the mode every other result file gets (FILE_MODE
    less the umask) so run.json is not the one file another user of a shared results tree cannot
    read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE & ~_umask())
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
