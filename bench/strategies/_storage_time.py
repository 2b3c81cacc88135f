"""Wall time spent in Optuna storage calls, measured at the storage boundary.

`timed(storage)` wraps any Optuna storage (in-memory, journal file, RDB, a gRPC proxy client) so
that every call into it (ask's reads and trial creation, suggest's `set_trial_param`, report,
user attributes, tell) adds its wall time to a per-thread counter. A strategy reads the counter
before and after a trial's storage calls (`seconds()`), which attributes the time to that trial
whichever thread or process makes the calls, with no change to Optuna or the objective.

Only the outermost call is timed: storage methods that call other methods of the same storage
(`get_n_trials` calls `get_all_trials`) are counted once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_local = threading.local()
JOURNAL_FILE = "journal file"


def seconds() -> float:
    """Storage wall seconds this thread has spent so far (monotonic, never reset)."""
    return float(getattr(_local, "total", 0.0))


def backend_name(url_or_path: str | None) -> str:
    """The storage backend a run used, as the report names it: `in-memory`, `journal file`,
    or the RDB dialect (`sqlite`, `postgresql`, `mysql`) of a URL; never the URL itself."""
    if not url_or_path:
        return "in-memory"
    if "://" in url_or_path:
        scheme = url_or_path.split("://", 1)[0]
        if scheme.startswith("grpc"):
            return "gRPC proxy"
        return scheme.split("+", 1)[0] or "rdb"
    return JOURNAL_FILE


def _timed_method(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        inner = getattr(self._inner, name)
        depth = getattr(_local, "depth", 0)
        if depth:
            return inner(*args, **kwargs)
        _local.depth = 1
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            _local.total = seconds() + (time.perf_counter() - t0)
            _local.depth = 0

    method.__name__ = name
    return method


def _storage_class() -> type:
    """A BaseStorage subclass that forwards every public storage method through the timer
    (built on first use, so optuna is imported only by code that opens a storage)."""
    global _CLASS
    if _CLASS is None:
        from optuna.storages import BaseStorage

        names = [n for n in dir(BaseStorage) if not n.startswith("_") and callable(getattr(BaseStorage, n))]
        attrs: dict[str, Any] = {n: _timed_method(n) for n in names}

        def __init__(self: Any, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self: Any, name: str) -> Any:
            # Anything beyond BaseStorage (a backend's own helpers) goes to the wrapped storage.
            if name == "_inner":
                raise AttributeError(name)
            return getattr(self._inner, name)

        attrs.update(__init__=__init__, __getattr__=__getattr__, __doc__=__doc__)
        cls = type("TimedStorage", (BaseStorage,), attrs)
        cls.__abstractmethods__ = frozenset()  # type: ignore[attr-defined]
        _CLASS = cls
    return _CLASS


_CLASS: type | None = None


def timed(storage: Any) -> Any:
    """`storage` with its calls timed; a storage already wrapped is returned as it is."""
    cls = _storage_class()
    if isinstance(storage, cls):
        return storage
    return cls(storage)
