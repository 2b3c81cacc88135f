"""Trial records from inside a program that uses Optuna, for `bench watch` (see sitecustomize).

When `optuna` has been imported, `Study.optimize`, `Study.ask` and `Study.tell` are wrapped:
  ask      appends {"event": "ask"} to trace.jsonl (number, time, pid, tid, how it was called)
  optimize wraps the objective, so each trial's record is written in the thread that ran it
  tell     writes the record of an ask/tell trial (the process that ran its objective is unknown:
           pid 0; the asking process and thread are kept)
Trial records go to trials.jsonl in corebench's TrialRecord shape, one write() per line, as each
trial ends, so a kill keeps every finished trial. Every failure inside the tracer is swallowed
and the wrapped call goes on exactly as Optuna would run it.
"""

from __future__ import annotations

# Every Python process of the watched program imports this at start-up: only modules the
# interpreter has loaded by then (or nearly: threading, functools); json is imported at the first
# trial record, after Optuna has loaded it anyway.
import functools
import math
import os
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRACE_FILE = "trace.jsonl"
TRIALS_FILE = "trials.jsonl"
SUPPORTED = ("3.", "4.", "5.")  # Optuna majors whose Study.ask/tell/optimize are wrapped

_lock = threading.Lock()
_asked: dict[tuple[int, int], dict[str, Any]] = {}  # (id(study), number) -> ask event
_host = os.uname().nodename  # what socket.gethostname() returns, without importing socket


def _after_fork_in_child() -> None:
    # A fork while another thread held the lock would leave the child's copy locked forever, and
    # the child's trials are its own: a fresh lock, no inherited asks.
    global _lock
    _lock = threading.Lock()
    _asked.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _dir() -> str:
    return os.environ.get("COREBENCH_TRACE_DIR", "")


def _run() -> str:
    return os.environ.get("COREBENCH_TRACE_RUN", "watch")


def _append(name: str, record: dict[str, Any], line: bytes | None = None) -> None:
    try:
        if line is None:
            import json

            line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(os.path.join(_dir(), name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:
        pass


def _event(kind: str, **fields: Any) -> None:
    _append(TRACE_FILE, {"event": kind, "t": time.time(), "pid": os.getpid(), "run": _run(), **fields})


# --- the import hook --------------------------------------------------------------------------
class _OptunaFinder:  # a meta path finder by protocol: importlib.abc is not loaded this early
    """Finds nothing itself: lets the real finders locate `optuna`, and patches it once loaded."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "optuna":
            return None
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            loader = getattr(spec, "loader", None) if spec is not None else None
            if spec is None or loader is None or not hasattr(loader, "exec_module"):
                return None
            spec.loader = _PatchingLoader(loader)  # type: ignore[assignment]  # a Loader by protocol
            return spec
        except Exception:
            return None


class _PatchingLoader:  # a loader by protocol
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # Reloads and introspection see the real loader, not this one.
        module.__spec__.loader = module.__loader__ = self._inner
        self._inner.exec_module(module)
        install(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


def arm() -> None:
    """Called from sitecustomize: hook the import of optuna (a no-op if it is already imported)."""
    run = _run()
    if run.isidentifier():  # formatted by hand: no json import in every process at start-up
        version = ".".join(str(v) for v in sys.version_info[:3])
        line = (f'{{"event": "armed", "pid": {os.getpid()}, "run": "{run}", "t": {time.time()!r}, '
                f'"version": "{version}"}}\n').encode()
        _append(TRACE_FILE, {}, line)
    else:
        _event("armed", version=sys.version.split()[0])
    if "optuna" in sys.modules:
        install(sys.modules["optuna"])
        return
    sys.meta_path.insert(0, _OptunaFinder())


def install(optuna: Any) -> bool:
    """Wrap the Study methods; on any surprise leave Optuna untouched and say why."""
    try:
        version = str(getattr(optuna, "__version__", "?"))
        study_cls = optuna.study.Study
        missing = [m for m in ("ask", "tell", "optimize") if not callable(getattr(study_cls, m, None))]
        if not version.startswith(SUPPORTED) or missing:
            why = f"missing Study.{', Study.'.join(missing)}" if missing else "unsupported version"
            _event("hook", status="not installed", optuna=version, reason=why)
            return False
        if getattr(study_cls, "_corebench_traced", False):
            return True
        originals = {m: getattr(study_cls, m) for m in ("ask", "tell", "optimize")}
        study_cls.ask = _wrap_ask(originals["ask"])
        study_cls.tell = _wrap_tell(originals["tell"])
        study_cls.optimize = _wrap_optimize(originals["optimize"])
        study_cls._corebench_traced = True
        _event("hook", status="installed", optuna=version)
        return True
    except Exception as exc:
        _event("hook", status="not installed", reason=f"{type(exc).__name__}: {exc}")
        return False


# --- the wrappers -----------------------------------------------------------------------------
def _study_name(study: Any) -> str | None:
    try:
        return str(study.study_name)
    except Exception:
        return None


def _wrap_ask(orig: Any) -> Any:
    def ask(self: Any, *args: Any, **kwargs: Any) -> Any:
        trial = orig(self, *args, **kwargs)
        try:
            # study.optimize asks from optuna.study._optimize._run_trial, in the thread that then
            # runs the objective; any other caller is an ask/tell loop.
            caller = sys._getframe(1).f_code.co_name
            ev: dict[str, Any] = {"number": int(trial.number), "start": time.time(), "tid": threading.get_native_id(),
                  "mode": "optimize" if caller == "_run_trial" else "ask_tell",
                  "study": _study_name(self), "host": _host}
            with _lock:
                _asked[(id(self), ev["number"])] = ev
            _event("ask", **ev)
        except Exception:
            pass
        return trial

    return functools.update_wrapper(ask, orig)


def _state_name(state: Any) -> str:
    name = str(getattr(state, "name", state)).lower()
    return {"complete": "complete", "pruned": "pruned", "fail": "failed"}.get(name, name)


def _record(number: int, state: str, value: Any, params: Any, start: float, end: float, pid: int,
            tid: int, mode: str, study: str | None, error: str | None = None) -> dict[str, Any]:
    values = None
    if isinstance(value, (list, tuple)):
        values, value = [float(v) for v in value], None
    return {
        "number": number, "state": state, "value": value, "values": values,
        "params": dict(params or {}), "start": start, "end": end, "pid": pid,
        # The thread that ran the objective, as corebench's workers name it; unknown for ask/tell
        # (the asking thread is not where the trial ran, so its gaps are no dispatch gaps).
        "worker": f"{_host}:{os.getpid()}:{tid}" if mode == "optimize" else "",
        "torch_threads": None, "run": _run(),
        "strategy": "watch", "host": _host, "error": error, "pids": None, "node": None,
        "tid": tid, "mode": mode, "study": study, "client_pid": os.getpid(),
    }


def _wrap_tell(orig: Any) -> Any:
    def tell(self: Any, trial: Any, *args: Any, **kwargs: Any) -> Any:
        frozen = orig(self, trial, *args, **kwargs)
        try:
            end = time.time()
            number = int(getattr(frozen, "number", trial if isinstance(trial, int) else trial.number))
            with _lock:
                ev = _asked.pop((id(self), number), None) or {}
            values = getattr(frozen, "values", None)
            value: Any = values[0] if values and len(values) == 1 else values
            _append(TRIALS_FILE, _record(
                number, _state_name(getattr(frozen, "state", "?")), value,
                getattr(frozen, "params", {}), float(ev.get("start", end)), end,
                0,  # the objective ran wherever the caller sent it: not known from here
                int(ev.get("tid", threading.get_native_id())), "ask_tell", _study_name(self),
            ))
        except Exception:
            pass
        return frozen

    return functools.update_wrapper(tell, orig)


def _traced_objective(study: Any, func: Any) -> Any:
    def objective(trial: Any) -> Any:
        start = time.time()
        state, value, error = "complete", None, None
        try:
            value = func(trial)
            return value
        except BaseException as exc:
            pruned = type(exc).__name__ == "TrialPruned"
            state, error = ("pruned" if pruned else "failed"), f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            try:
                end = time.time()
                number = int(trial.number)
                with _lock:
                    ev = _asked.pop((id(study), number), None) or {}
                if state == "complete":
                    value = _as_value(value)
                    if value is None:
                        state, error = "failed", "objective returned no finite number"
                _append(TRIALS_FILE, _record(
                    number, state, value, trial.params, float(ev.get("start", start)), end,
                    os.getpid(), threading.get_native_id(), "optimize", _study_name(study), error,
                ))
            except Exception:
                pass

    return objective


def _as_value(value: Any) -> Any:
    """The value Optuna would store: a finite float, a list of them, or None (a failed trial)."""
    try:
        if isinstance(value, (list, tuple)):
            out = [float(v) for v in value]
            return out if all(math.isfinite(v) for v in out) else None
        v = float(value)
        return v if math.isfinite(v) else None
    except Exception:
        return None


def _wrap_optimize(orig: Any) -> Any:
    def optimize(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            wrapped = _traced_objective(self, func)
        except Exception:
            wrapped = func
        return orig(self, wrapped, *args, **kwargs)

    return functools.update_wrapper(optimize, orig)
