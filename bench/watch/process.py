"""The watched command: started in its own process group, signals forwarded, nothing left behind.

Ctrl-C (or SIGTERM) sent to bench goes to the command's whole group as SIGINT (SIGTERM); a command
that is still there a grace period later gets SIGTERM, and one more grace period later SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.errors import ConfigError

ESCALATION = (signal.SIGTERM, signal.SIGKILL)


def exit_code(returncode: int) -> int:
    """A shell's exit status: the code itself, or 128 + N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Stop:
    """Why and how the command was asked to stop: the signals sent, in order."""

    reason: str = ""
    sent: list[str] | None = None


class Command:
    """One child process in a new session (its own process group, away from the terminal's
    Ctrl-C, which bench forwards itself)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], grace: float = 5.0,
                 stdout: int | None = None) -> None:
        if not argv:
            raise ConfigError("bench watch needs a command after `--`, e.g. `bench watch -- python x.py`")
        try:
            self.proc = subprocess.Popen(list(argv), env=dict(env), start_new_session=True, stdout=stdout)
        except FileNotFoundError:
            raise ConfigError(f"cannot run {argv[0]!r}: no such program") from None
        except PermissionError:
            raise ConfigError(f"cannot run {argv[0]!r}: not executable") from None
        except OSError as exc:
            raise ConfigError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        self.started = time.time()
        self.pid = self.proc.pid
        self.pgid = self.proc.pid
        self.grace = grace
        self.ended: float | None = None
        self.stop = Stop()
        self._next_step: float | None = None
        self._step = 0

    def poll(self) -> int | None:
        rc = self.proc.poll()
        if rc is not None and self.ended is None:
            self.ended = time.time()
        return rc

    def signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pgid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def interrupt(self, sig: int = signal.SIGINT, reason: str = "") -> None:
        """Forward `sig` to the group the first time; each further call escalates at once."""
        if self.stop.sent is None:
            self.stop = Stop(reason or f"bench received {signal.Signals(sig).name}", [])
            self._send(sig)
            self._next_step = time.monotonic() + self.grace
        else:
            self._escalate()

    def tick(self) -> None:
        """Escalate when the grace period after the last signal has passed and the command lives."""
        if self._next_step is not None and time.monotonic() >= self._next_step and self.poll() is None:
            self._escalate()

    def _escalate(self) -> None:
        if self._step < len(ESCALATION):
            self._send(ESCALATION[self._step])
            self._step += 1
            self._next_step = time.monotonic() + self.grace

    def _send(self, sig: int) -> None:
        assert self.stop.sent is not None
        self.stop.sent.append(signal.Signals(sig).name)
        self.signal_group(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.poll()
        return rc


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies excluded)."""
    import psutil

    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (OSError, psutil.Error):
            continue
    return out


def stop_leftovers(pgid: int, seen: Iterable[int], since: float, grace: float = 2.0,
                   spare: Iterable[int | None] = ()) -> list[int]:
    """Stop what the command left running: its group, descendants the probes saw that left the
    group, and orphans re-parented to bench (a subreaper); only processes started after the
    command, so a reused pid is not touched. SIGTERM, then SIGKILL after `grace`; waiting on
    adopted orphans reaps them; `spare`: bench's own helpers (its guardian). Returns the pids that
    had to be stopped."""
    import psutil

    try:
        adopted = [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        adopted = []
    procs: dict[int, psutil.Process] = {}
    spared = set(spare)
    for pid in {*group_members(pgid), *seen, *adopted}:
        try:
            p = psutil.Process(pid)
            if (p.create_time() >= since - 1.0 and p.status() != psutil.STATUS_ZOMBIE
                    and pid != os.getpid() and pid not in spared):
                procs[pid] = p
        except psutil.Error:
            continue
    for p in procs.values():
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)
    return sorted(procs)
