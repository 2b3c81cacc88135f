"""Define-by-run trials in worker processes: every `suggest_*`, `report` and `should_prune` a
worker's objective calls is answered by the parent's own `optuna.Trial`, so the parent's study,
sampler (TPE by default) and pruner decide every parameter, conditional ones included.

Why forward calls and not serve the study with Optuna's gRPC storage proxy
(`optuna.storages.run_grpc_proxy_server` + `GrpcStorageProxy`), measured on this 2-core machine
(TPE, 5 `suggest_float` calls, no-op objective, one worker, 60 trials):
- forwarding over a local socket: +0.3 ms a trial over a declared search space; the sampler
  that decides is the parent's one object (one RNG, one seed, no per-worker copies drawing the
  same start-up points);
- gRPC proxy: +2 ms a trial (about 15 round trips: the sampler runs in the worker and reads the
  study's trials several times per suggest), the sampler a copy per worker, and gRPC's threads
  do not survive fork (pool's default start method: "skipping fork() handlers", then a hang);
  `run_grpc_proxy_server` blocks forever and has no way to pick a free port.
The protocol is small: (trial number, method name, args, kwargs) in, the method's result (or the
exception's type and message) back, answered by calling that public method on the parent's trial.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

import optuna
from optuna.trial import BaseTrial

# What a worker may call on the parent's trial: the objective-facing API of optuna.Trial.
METHODS = frozenset({
    "suggest_float", "suggest_int", "suggest_categorical", "suggest_uniform",
    "suggest_loguniform", "suggest_discrete_uniform", "report", "should_prune", "set_user_attr",
    "set_constraint",
})
PROPERTIES = frozenset({"params", "distributions", "user_attrs", "datetime_start"})


@dataclass(frozen=True)
class Channel:
    """Where a worker reaches the parent's trials (a Unix socket path, or (host, port) for Ray
    workers on other nodes) and the key that proves it is one of this run's workers."""

    address: Any
    authkey: bytes


class TrialServer:
    """Answers workers' calls with the parent's live trials (`lookup(number)`), one thread per
    worker connection; calls are serialised so the sampler sees one request at a time."""

    def __init__(self, lookup: Callable[[int], Any], host: str | None = None) -> None:
        self._lookup = lookup
        key = secrets.token_bytes(16)
        if host is None:
            # Linux's abstract namespace: no file to create or to leave behind after a kill -9
            # (anyone may connect, as to a TCP port; the key check turns strangers away).
            name = f"\0corebench-{os.getpid()}-{secrets.token_hex(8)}"
            self._listener = Listener(name, "AF_UNIX", authkey=key)
        else:
            self._listener = Listener((host, 0), "AF_INET", authkey=key)
        self.channel = Channel(self._listener.address, key)
        self._sampler_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="corebench-trials", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except Exception:  # a client that failed the key check (or no fds left: wait)
                self._closed.wait(0.05)
                continue
            if self._closed.is_set():  # close()'s own wake-up call
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), name="corebench-trial-conn",
                             daemon=True).start()

    def _serve(self, conn: Connection, request: Any = None) -> None:
        """Answer one trial's calls in this thread; the next trial's go on in a new thread.

        Optuna caches a study's trials per thread until that thread's next `ask()` (which here
        runs in the strategy's own thread): a thread kept across trials would hand TPE the
        history as it was at its first trial. A thread per trial sees what finished before it,
        as Optuna's own n_jobs threads do.
        """
        number: int | None = None
        while True:
            if request is None:
                try:
                    request = conn.recv()
                except Exception:  # EOF: the worker ended or was killed
                    conn.close()
                    return
            if number is None:
                number = request[0]
            elif request[0] != number:
                threading.Thread(target=self._serve, args=(conn, request),
                                 name="corebench-trial-conn", daemon=True).start()
                return
            try:
                reply: tuple[Any, ...] = ("ok", self.call(*request))
            except Exception as exc:  # the parent's trial refused the call: the objective's error
                reply = ("error", type(exc).__name__, str(exc))
            try:
                conn.send(reply)
            except Exception:  # the worker is gone, or the reply does not pickle
                conn.close()
                return
            request = None

    def call(self, number: int, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        trial = self._lookup(number)
        if trial is None:
            raise RuntimeError(f"trial {number} is no longer running in the parent's study")
        if method in PROPERTIES:
            return getattr(trial, method)
        if method not in METHODS:
            raise AttributeError(f"a worker's trial has no method {method!r}")
        with self._sampler_lock:
            return getattr(trial, method)(*args, **kwargs)

    def close(self) -> None:
        # Closing a listening socket does not wake a thread blocked in accept() on it, and that
        # thread would then accept on whatever socket next gets the same fd number (the next
        # run's, with another key: "digest sent was rejected"). So wake it, let it end, then close.
        # The wake-up is a bare connection, closed at once: an authenticated Client would wait for
        # the server's challenge, and hang forever when the accept thread had already seen
        # `_closed` and left without accepting it.
        self._closed.set()
        with contextlib.suppress(OSError):
            address = self.channel.address
            family = socket.AF_UNIX if isinstance(address, str | bytes) else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as wake:
                wake.settimeout(1.0)
                wake.connect(address)
        self._thread.join(timeout=2.0)
        with contextlib.suppress(Exception):
            self._listener.close()


@contextlib.contextmanager
def serving(lookup: Callable[[int], Any], host: str | None = None) -> Iterator[TrialServer]:
    server = TrialServer(lookup, host)
    try:
        yield server
    finally:
        server.close()


# -- worker side ---------------------------------------------------------------------------------

_connections: dict[Any, tuple[int, Connection, threading.Lock]] = {}
_connections_lock = threading.Lock()
# Exceptions the parent's trial raises that the objective may expect by type.
_KNOWN_ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError, "TypeError": TypeError, "RuntimeError": RuntimeError,
    "AttributeError": AttributeError, "NotImplementedError": NotImplementedError,
}


def _key(channel: Channel) -> Any:
    # The authkey is new for every server: a later run's server at the same address (a port
    # reused on a Ray cluster whose workers outlive runs) is never taken for an old one.
    address = channel.address if isinstance(channel.address, str | bytes) else tuple(channel.address)
    return address, channel.authkey


def _connection(channel: Channel) -> tuple[Connection, threading.Lock]:
    """One connection per worker process and channel (a forked child opens its own)."""
    key = _key(channel)
    with _connections_lock:
        known = _connections.get(key)
        if known is not None and known[0] == os.getpid():
            return known[1], known[2]
        conn = Client(channel.address, authkey=channel.authkey)
        _connections[key] = (os.getpid(), conn, threading.Lock())
        return conn, _connections[key][2]


def _forget(channel: Channel) -> None:
    with _connections_lock:
        known = _connections.pop(_key(channel), None)
    if known is not None:
        with contextlib.suppress(Exception):
            known[1].close()


class RemoteTrial(BaseTrial):
    """The trial a worker's objective gets: an `optuna.Trial` whose every call is made on the
    parent's trial of the same number."""

    def __init__(self, channel: Channel, number: int) -> None:
        self._channel = channel
        self._number = number

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            conn, lock = _connection(self._channel)
            with lock:
                conn.send((self._number, method, args, kwargs))
                reply = conn.recv()
        except (OSError, EOFError) as exc:
            _forget(self._channel)
            raise RuntimeError(f"lost the parent's study while calling trial.{method}: {exc}") from None
        if reply[0] == "ok":
            return reply[1]
        _, kind, message = reply
        if kind == "TrialPruned":
            raise optuna.TrialPruned(message)
        raise _KNOWN_ERRORS.get(kind, RuntimeError)(f"trial.{method}: {kind}: {message}")

    @property
    def number(self) -> int:
        return self._number

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False,
    ) -> float:
        value: float = self._call("suggest_float", name, low, high, step=step, log=log)
        return value

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        value: float = self._call("suggest_uniform", name, low, high)
        return value

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        value: float = self._call("suggest_loguniform", name, low, high)
        return value

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        value: float = self._call("suggest_discrete_uniform", name, low, high, q)
        return value

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False,
    ) -> int:
        value: int = self._call("suggest_int", name, low, high, step=step, log=log)
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._call("suggest_categorical", name, choices)

    def report(self, value: float, step: int) -> None:
        self._call("report", value, step)

    def should_prune(self) -> bool:
        return bool(self._call("should_prune"))

    def set_user_attr(self, key: str, value: Any) -> None:
        self._call("set_user_attr", key, value)

    def set_constraint(self, key: str, value: float) -> None:
        self._call("set_constraint", key, value)

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = self._call("params")
        return out

    @property
    def distributions(self) -> dict[str, Any]:
        out: dict[str, Any] = self._call("distributions")
        return out

    @property
    def user_attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = self._call("user_attrs")
        return out

    @property
    def datetime_start(self) -> Any:
        return self._call("datetime_start")
