"""Stack sampler: `py-spy dump` (probes.pyspy) of the root and its Python workers every interval,
each Python thread classified by probes.threadstate (which also documents the rules).

Samples: `{"kind": "stack", "t", "pid", "threads": [{"tid", "name", "state", "active", "owns_gil",
"frames": ["func (file:line)", … up to 5], "wait": {…} where measured (see
probes.gil.ThreadWait.as_record)}], "counts": {"gil", "native", "waiting_gil", "idle"}}`.
When py-spy is missing or not permitted to read the target (ptrace), one
`{"kind": "note", "t", "probe": "stack", "level": "warning", "message"}` is emitted and stack
sampling stops; the run goes on. A target that exits mid-dump is skipped quietly, and so is a
failure that does not repeat (a process starting up or shutting down); one that persists for
NOTE_AFTER_FAILURES dumps of a live process gets one "info" note.

py-spy's own CPU is the probes' cost, not the job's: with `max_cores` set, a round that cost more
than `max_cores` × the interval is followed by a pause, so that py-spy averages at most `max_cores`
cores after the first `pace_after` rounds (the first such pause gets one "info" note with the
figures).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from probes import pyspy
from probes._sampler import Sampler
from probes.gil import measure, runtime_range
from probes.pyspy import PTRACE_HELP, PySpyError, alive, dump
from probes.threadstate import is_working, source_reader, stack_sample, thread_id
from probes.tree import descendants, looks_python, scan_processes

Sink = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)

NOTE_AFTER_FAILURES = 3
# The stack probe's CPU budget in a ProbeSession: this share of the usable cores, averaged over its
# rounds. Dumps of many large Python processes (a Ray run's driver, raylet-spawned workers and
# agents) cost half a core of two unpaced; the job's own measurement is what that takes from.
STACK_CPU_SHARE = 0.1
# Rounds never held back at the start: bench's diagnosis judges a process from its stacks once it
# has 4 dumps of it (MIN_STACK_SAMPLES), and a 10 s `bench attach` must get them.
PACE_AFTER_ROUNDS = 4


def python_pids(root_pid: int) -> list[int]:
    """The root and its descendants that run Python (by name or command line), root first."""
    table = scan_processes()
    out: list[int] = []
    for pid in descendants(table, [root_pid]):
        if pid == root_pid:
            out.insert(0, pid)
            continue
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.Error:
            continue
        if looks_python(table[pid].name, cmdline):
            out.append(pid)
    return out


class StackSampler(Sampler):
    """Dumps the stacks of the root and its Python workers every `interval` s in a daemon thread
    (start/stop/`with`: probes._sampler); the first round runs at once, a slow one is followed at
    once by the next."""

    name = "probe-stacks"
    first_after_period = False
    catch_up = True

    def __init__(
        self,
        root_pid: int,
        sink: Sink,
        interval: float = 2.0,
        pids_fn: Callable[[], list[int]] | None = None,
        max_pids: int = 8,
        py_spy: str | None = None,
        dump_timeout: float = 5.0,
        waits: bool = True,
        max_cores: float | None = None,
        pace_after: int = PACE_AFTER_ROUNDS,
    ) -> None:
        super().__init__(interval)
        self.root_pid = root_pid
        self.waits = waits  # the kernel's view of each thread right after a dump (probes.gil)
        self._runtimes: dict[int, tuple[int, int] | None] = {}
        self.sink = sink
        self.interval = interval
        self.pids_fn = pids_fn
        self.max_pids = max_pids
        self.py_spy = py_spy
        self.dump_timeout = dump_timeout
        self.disabled: str | None = None  # why stack sampling stopped, when it did
        self._skip: set[int] = set()  # not Python
        self._noted: set[tuple[int, str]] = set()
        self._failures: dict[int, int] = {}  # consecutive unexplained failures per pid
        self._popen: subprocess.Popen[bytes] | None = None
        self._popen_lock = threading.Lock()
        # CPU seconds py-spy has used so far, failed dumps too: the probes' own load, which
        # the tree sampler's `observer_cpu_s` counts (not other jobs').
        self.py_spy_cpu_s = 0.0
        self.max_cores = max_cores  # py-spy's CPU budget, cores on average (None: unpaced)
        self.paced_s = 0.0  # time the rounds were held back to keep to it
        self.pace_after = pace_after  # rounds run unpaced first
        self._rounds = 0

    # life cycle (probes._sampler) -------------------------------------------------------
    def _before_start(self) -> None:
        if self.py_spy is None:
            self.py_spy = pyspy.find_py_spy()

    def _on_request_stop(self) -> None:
        """Kill an in-flight py-spy, so stop() returns at once (not reaping it: `dump` collects it
        with its CPU)."""
        with self._popen_lock:
            if self._popen is not None:
                pyspy.kill(self._popen)

    def _set_popen(self, proc: subprocess.Popen[bytes] | None) -> None:
        with self._popen_lock:
            self._popen = proc
            if proc is not None and self.stopping:
                pyspy.kill(proc)

    def _spent(self, cpu_s: float) -> None:
        self.py_spy_cpu_s += cpu_s  # one writer (this sampler's thread); readers take a float

    def _targets(self) -> list[int]:
        try:
            pids = self.pids_fn() if self.pids_fn is not None else python_pids(self.root_pid)
        except Exception:
            log.debug("pids_fn failed", exc_info=True)
            pids = [self.root_pid]
        out: list[int] = []
        for pid in pids:
            if pid not in self._skip and pid not in out:
                out.append(pid)
        return out[: self.max_pids]

    def _emit(self, record: dict[str, Any]) -> None:
        try:
            self.sink(record)
        except Exception:
            self.errors += 1
            log.warning("stack sink failed", exc_info=self.errors == 1)

    def _note(self, message: str, level: str = "warning") -> None:
        self._emit({"kind": "note", "t": time.time(), "probe": "stack", "level": level,
                    "message": message})

    def sample_pid(self, pid: int) -> dict[str, Any] | None:
        """One stack sample of `pid`, or None (process gone, not Python, or sampling disabled)."""
        if self.disabled is not None:
            return None
        t = time.time()
        try:
            traces = dump(pid, self.py_spy, self.dump_timeout, on_start=self._set_popen,
                          on_cpu=self._spent)
        except PySpyError as exc:
            self._failed(pid, exc)
            return None
        self._failures.pop(pid, None)
        source = source_reader(pid)
        waits = None
        working = [thread_id(tr) for tr in traces if is_working(tr, source)]
        # The kernel's view matters only where two threads could contend for the GIL; a process
        # with one working thread (a pool worker) costs no window.
        if self.waits and len(working) >= 2 and not self.stopping:
            waits = measure(pid, working, self._runtime(pid))
        return stack_sample(pid, traces, t, source, waits)

    def _runtime(self, pid: int) -> tuple[int, int] | None:
        if pid not in self._runtimes:
            if len(self._runtimes) > 4 * self.max_pids:  # workers come and go: keep it bounded
                self._runtimes.clear()
            self._runtimes[pid] = runtime_range(pid)
        return self._runtimes[pid]

    def _failed(self, pid: int, exc: PySpyError) -> None:
        if self.stopping or exc.kind == "gone":
            return
        if exc.kind == "permission":
            self.disabled = f"{PTRACE_HELP} (py-spy said: {exc})"
            self._note(f"stack sampling off: {self.disabled}")
        elif exc.kind == "missing":
            self.disabled = str(exc)
            self._note(f"stack sampling off: {exc}")
        elif exc.kind == "not_python":
            self._skip.add(pid)
        else:
            # A process starting up or shutting down fails a dump now and then ("Failed to get
            # stack traces"); only a failure that persists while it lives is worth a note.
            n = self._failures[pid] = self._failures.get(pid, 0) + 1
            if n >= NOTE_AFTER_FAILURES and alive(pid) and (pid, exc.kind) not in self._noted:
                self._noted.add((pid, exc.kind))
                self.errors += 1
                self._note(f"py-spy could not read pid {pid} ({n} tries): {exc}", level="info")

    def tick(self) -> bool:
        """One round: a dump of each target, then the pause its cost needs under `max_cores`;
        False once sampling is disabled."""
        began, spent_before = time.monotonic(), self.py_spy_cpu_s
        self._round()
        self._rounds += 1
        if self.max_cores and self._rounds > self.pace_after:
            self._pace(began, self.py_spy_cpu_s - spent_before)
        return self.disabled is None

    def _pace(self, began: float, cost_s: float) -> None:
        """Hold the next round back until this one's py-spy CPU averages `max_cores` since it
        began (the loop starts it at once afterwards: `catch_up`)."""
        assert self.max_cores
        span = cost_s / self.max_cores
        if span <= self.interval:
            return
        wait = began + span - time.monotonic()
        if wait <= 0 or self.stopping:
            return
        if not self.paced_s:
            self._note(
                f"stack dumps paced to one round every {span:.1f} s (not {self.interval:g} s): a "
                f"round's py-spy used {cost_s:.2f} s of CPU, over the probe's budget of "
                f"{self.max_cores:.2f} cores; fewer stack samples, less of the job's CPU taken",
                level="info",
            )
        self.paced_s += wait
        self._stop.wait(wait)

    def _round(self) -> None:
        for pid in self._targets():
            if self.stopping or self.disabled is not None:
                break
            try:
                sample = self.sample_pid(pid)
            except Exception:  # never let a probe take the run down
                self.errors += 1
                log.warning("stack sample failed", exc_info=self.errors == 1)
                continue
            if sample is not None and not self.stopping:
                self._emit(sample)
