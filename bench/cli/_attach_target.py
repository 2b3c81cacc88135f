"""Whether `bench attach --pid PID` can watch PID, said truthfully: no such process, a kernel
thread, a process even root may not read, py-spy not permitted, not Python."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import ProbeError

__all__ = ["check_target", "is_kernel_thread"]


def check_target(pid: int, stacks: bool) -> list[str]:
    """Raise ProbeError when the probes cannot watch `pid`; return warnings worth printing."""
    import psutil

    from probes.pyspy import PTRACE_HELP, PySpyError, dump

    if pid <= 0:
        raise ProbeError(f"--pid must be a positive process id, got {pid}")
    try:
        name = psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        raise ProbeError(f"no process with pid {pid} (it exited, or the id is wrong)") from None
    except psutil.AccessDenied:
        raise ProbeError(
            f"not permitted to read process {pid}; run as its user or as root"
        ) from None
    if is_kernel_thread(pid):
        raise ProbeError(
            f"pid {pid} ({name}) is a kernel thread: no user-space process, threads or stacks to probe"
        )
    if not stacks:
        return []
    try:
        dump(pid, timeout=10.0)
    except PySpyError as exc:
        if exc.kind == "permission" and os.geteuid() == 0 and not _exe_readable(pid):
            # "Run as root" or "allow ptrace" would be wrong advice: even root may not look at
            # this process (its /proc/PID/exe is closed to us), whatever ptrace allows.
            what = "the init process of this machine or container, " if pid == 1 else ""
            raise ProbeError(
                f"py-spy cannot read pid {pid} ({what}{name}) even as root: the kernel does not let "
                f"this process read its memory; use --no-stacks to watch its processes and CPU"
            ) from None
        if exc.kind == "permission":
            raise ProbeError(
                f"py-spy cannot attach to pid {pid}: {PTRACE_HELP}; or use --no-stacks"
            ) from None
        if exc.kind == "missing":
            raise ProbeError(str(exc)) from None
        if exc.kind == "gone":
            raise ProbeError(f"process {pid} exited before sampling began") from None
        if exc.kind == "not_python":
            return [f"pid {pid} is not a Python process: stacks come from its Python "
                    "descendants, if any"]
        raise ProbeError(f"py-spy cannot read pid {pid}: {exc}; rerun with --no-stacks") from None
    return []


_PF_KTHREAD = 0x00200000  # task flag of kernel threads (include/linux/sched.h)


def is_kernel_thread(pid: int) -> bool:
    """True for a kernel thread (kthreadd, kworker/...): its /proc stat flags say so."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The name in parentheses may hold spaces and ')': the fields start after the last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return bool(int(fields[6]) & _PF_KTHREAD)
    except (IndexError, ValueError):
        return False


def _exe_readable(pid: int) -> bool:
    try:
        os.readlink(f"/proc/{pid}/exe")
    except PermissionError:
        return False
    except OSError:
        return True  # gone or a kernel thread: not a permission problem
    return True


