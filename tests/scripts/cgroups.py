"""A CPU cgroup with a quota for a test job (root only): cgroup v1's `cpu` controller where it is
mounted, else the unified hierarchy's cpu.max; removed again afterwards."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class NoCgroup(Exception):
    """No writable CPU controller here (not root, or no cpu controller)."""


def _make() -> tuple[Path, int]:
    name = f"corebench-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    v1 = ROOT / "cpu"
    if (v1 / "cpu.cfs_quota_us").is_file():
        return v1 / name, 1
    controllers = ROOT / "cgroup.controllers"
    if controllers.is_file() and "cpu" in controllers.read_text().split():
        with contextlib.suppress(OSError):
            (ROOT / "cgroup.subtree_control").write_text("+cpu")
        return ROOT / name, 2
    raise NoCgroup("no cgroup cpu controller (v1 cpu or v2 cpu.max) here")


@contextlib.contextmanager
def cpu_cgroup(cores: float) -> Iterator[Path]:
    """A fresh cgroup whose CPU quota is `cores`; yields its directory (write a pid to
    `cgroup.procs` to put a process in). Its processes must be gone when the block ends."""
    path, version = _make()
    try:
        path.mkdir()
        # The top weight as well: on a machine busy with other work the job still gets the CPU
        # it asks for first, so it reaches its quota (and is throttled) whatever the load.
        if version == 1:
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(int(cores * PERIOD_US)))
            (path / "cpu.shares").write_text("262144")
        else:
            (path / "cpu.max").write_text(f"{int(cores * PERIOD_US)} {PERIOD_US}")
            (path / "cpu.weight").write_text("10000")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.rmdir()
        raise NoCgroup(f"cannot create a cgroup at {path}: {exc.strerror}") from None
    try:
        yield path
    finally:
        # A cgroup is removed only once empty; its processes were killed by the test, but the
        # kernel may take a moment to take them out.
        for _ in range(50):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)
