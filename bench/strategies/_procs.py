"""Worker processes a strategy supervises: started with the thread policy, watched through their
pipe and sentinel, killed one at a time when a trial times out, and never left behind."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from bench.trial import threads as thread_policy
from bench.trial.lifeline import die_with_parent

# How long a worker asked to stop (None on its pipe) gets before it is killed.
STOP_GRACE_S = 2.0
# Upper bound on one wait of a supervision loop, so stop requests are seen promptly.
POLL_S = 0.2
# A worker's first message: started, imports done, thread policy applied.
READY = "ready"

_env_lock = threading.Lock()


def mp_context(start_method: str) -> BaseContext:
    return multiprocessing.get_context(start_method)


@contextlib.contextmanager
def worker_env(threads: int | None) -> Iterator[None]:
    """Thread env vars set while workers start, so spawn/forkserver interpreters begin with them
    (OpenMP reads them once, at load). Fork children get the same env and `init_worker` too."""
    env = thread_policy.env_for(threads)
    with _env_lock:
        old = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for name, value in old.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def init_worker(threads: int | None, parent_pid: int) -> None:
    """First thing a worker process does: leave Ctrl-C to the parent, die with it, limit threads."""
    # The terminal sends SIGINT to the whole process group; the parent decides what stops, and
    # a fork child must not run the parent's Python handlers (they set the parent's stop flag).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent_pid)
    thread_policy.apply(threads)


def describe_exit(pid: int | None, exitcode: int | None) -> str:
    """`worker process 123 was killed by SIGKILL` / `... exited with code 1`."""
    who = f"worker process {pid}" if pid else "worker process"
    if exitcode is None:
        return f"{who} stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"{who} was killed by {name}"
    return f"{who} exited with code {exitcode}"


def worker_name(pid: int | None) -> str:
    return f"{socket.gethostname()}:{pid or 0}"


class Worker:
    """One supervised process and the parent's end of its pipe; `job` is what it runs now."""

    def __init__(self, proc: BaseProcess, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.job: Any = None
        self.since = 0.0
        # Set when the worker reports that it finished starting (imports, thread policy), so
        # that start-up is never counted against the first trial's timeout.
        self.ready = False
        self.gone = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    @property
    def busy(self) -> bool:
        return self.job is not None

    def give(self, job: Any, message: Any) -> bool:
        """Send work; False when the worker is already gone (its sentinel will say why)."""
        self.job, self.since = job, time.time()
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def receive(self) -> tuple[bool, Any]:
        """(True, message) when one is waiting; (False, None) when none, or the pipe is dead."""
        try:
            if not self.conn.poll():
                return False, None
            return True, self.conn.recv()
        except (EOFError, OSError, ValueError):
            return False, None
        except Exception:  # a message cut short by a kill does not unpickle
            return False, None

    def dead(self) -> bool:
        return not self.proc.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.proc.kill()
        self.proc.join(STOP_GRACE_S)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()


def start_worker(
    ctx: Any, target: Callable[..., None], args: Sequence[Any], threads: int | None,
    name: str,
) -> Worker:
    """Start `target(conn, *args, parent_pid)` in a new process with a duplex pipe to it.
    `ctx` is a multiprocessing context (typeshed's BaseContext lacks `Process`)."""
    parent_end, child_end = ctx.Pipe()
    parent_pid = 0 if ctx.get_start_method() == "forkserver" else os.getpid()
    proc = ctx.Process(target=target, args=(child_end, *args, parent_pid), name=name, daemon=False)
    with worker_env(threads):
        proc.start()
    # Our copy of the child's end must go, or we would never see EOF when the worker dies.
    child_end.close()
    return Worker(proc, parent_end)


def wait_any(workers: Sequence[Worker], timeout: float | None) -> None:
    """Block until a worker sends something or dies, or `timeout` passes."""
    handles: list[Any] = []
    for w in workers:
        with contextlib.suppress(OSError, ValueError):
            handles += [w.conn, w.proc.sentinel]
    if handles:
        multiprocessing.connection.wait(handles, timeout=timeout)
    elif timeout:
        time.sleep(timeout)


def stop_workers(workers: Sequence[Worker], grace: float = STOP_GRACE_S) -> None:
    """Idle workers are asked to exit; busy ones (their trials are being cancelled) are killed."""
    for w in workers:
        if w.busy:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                w.proc.kill()
        else:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
    deadline = time.time() + grace
    for w in workers:
        w.proc.join(max(0.0, deadline - time.time()))
        if w.proc.is_alive():
            w.kill()
        w.close()


def wake_in(ctx_time_left: float | None, *deadlines: float | None) -> float:
    """Seconds until the next thing a supervision loop must react to (bounded by POLL_S)."""
    now = time.time()
    out = POLL_S
    if ctx_time_left is not None:
        out = min(out, max(0.0, ctx_time_left))
    for d in deadlines:
        if d is not None:
            out = min(out, max(0.0, d - now))
    return out
