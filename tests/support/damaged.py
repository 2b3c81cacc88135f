"""What the damaged-results tests share (tests/unit/test_damaged_results.py, the listed cases;
tests/integration/test_fuzz_results.py, the fuzzed ones): the small valid results to damage, a
file put in place as bytes or as what is not a regular file, and a bound that turns a hang into a
failure."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from tests.support import synthetic as S

# What a results file may be instead of a regular file: a FIFO (the old reader blocked on it for
# ever), a directory, a symlink to itself, or nothing.
SPECIAL = ("fifo", "dir", "loop", "missing")


class Hung(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: int) -> Iterator[None]:
    """Fail (not hang) when the block runs past `seconds`."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def valid_sim(stacks: dict[str, int] | None = None) -> S.Sim:
    """The undamaged start: a sequential baseline (with these stack counts in each sample) and a
    pool of 2 worker processes, two 1 s trials each."""
    sim = S.Sim()
    S.simulate(sim, "sequential", trials=2, trial_s=1.0, stacks=stacks)
    S.simulate(sim, "pool", start=10, workers=2, separate_pids=True, trials=2, trial_s=1.0)
    return sim


def place(path: Path, content: bytes | str) -> None:
    """Put `content` at `path`, replacing what is there: bytes, or one of SPECIAL."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if content == "fifo":
        os.mkfifo(path)
    elif content == "dir":
        path.mkdir()
    elif content == "loop":
        path.symlink_to(path)
    elif content != "missing":
        assert isinstance(content, bytes)
        path.write_bytes(content)
