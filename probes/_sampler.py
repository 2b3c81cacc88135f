"""The life cycle every sampler shares: a daemon thread that calls `tick()` every `period` s from
start() until stop(), usable as a context manager (the shape of pyperf's hooks).

A subclass writes `tick()` (one round of work; False ends the loop, e.g. the target is gone) and
where it needs them the hooks `_before_start` (a baseline, taken before the thread runs),
`_on_request_stop` (interrupt work in flight, e.g. kill a py-spy) and `_after_stop` (once, after
the thread has finished: collect the last records, release what the sampler holds).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

log = logging.getLogger(__name__)


class Sampler:
    """start / request_stop / stop / `with` around a loop of `tick()` every `period` seconds.

    A tick that raises is counted in `errors` and logged once with its traceback; the loop goes
    on (a probe must never take the run down). A round that overruns the period does not cause a
    burst of catch-up rounds: the next one is a period later, or at once with `catch_up`.
    """

    #: thread name and the word used in log lines
    name = "probe"
    #: wait a period before the first tick (False: tick at once when started)
    first_after_period = True
    #: after an overrun, start the next round at once instead of a period later
    catch_up = False

    def __init__(self, period: float, stop_timeout: float = 2.0) -> None:
        self.period = period
        self.stop_timeout = stop_timeout
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False

    # life cycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        """Run `_before_start`, then tick every `period` s in a daemon thread until stop()."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._finished = False
        self._before_start()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to finish (and interrupt work in flight), without waiting for it."""
        self._stop.set()
        self._on_request_stop()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sampling (idempotent); returns once the loop has finished (at most `timeout` s,
        default `stop_timeout`) and `_after_stop` has run."""
        self.request_stop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.stop_timeout if timeout is None else timeout)
        if not self._finished:
            self._finished = True
            self._after_stop()

    @property
    def stopping(self) -> bool:
        """True once stop was requested: long ticks check it between steps."""
        return self._stop.is_set()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what a sampler writes ----------------------------------------------------------------
    def tick(self) -> bool | None:
        """One round of work; return False to end the loop."""
        raise NotImplementedError

    def _before_start(self) -> None:
        """Runs in start(), before the thread (a baseline sample, finding an executable)."""

    def _on_request_stop(self) -> None:
        """Runs in request_stop(): interrupt work in flight."""

    def _after_stop(self) -> None:
        """Runs once in stop(), after the loop has finished."""

    # the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        next_at = time.monotonic() + (self.period if self.first_after_period else 0.0)
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.period
            now = time.monotonic()
            if next_at < now:  # fell behind (a slow round): no burst of catch-up rounds
                next_at = now if self.catch_up else now + self.period
            try:
                more = self.tick()
            except Exception:  # a probe must never take the run down
                self.errors += 1
                log.warning("%s failed", self.name, exc_info=self.errors == 1)
                continue
            if more is False:
                return
