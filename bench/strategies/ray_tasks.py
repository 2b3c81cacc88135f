"""ray: one Ray task per trial (one CPU each), W in flight, asked and told in the parent.

Without --ray-address a local Ray instance sized to W CPUs is started for this run and shut
down after it; with one, the run joins that cluster and only disconnects from it. Ray exports
OMP_NUM_THREADS from the task's CPUs; `execute` applies our thread policy in the task and the
record says what the trial ran with. A task past the timeout is cancelled with force=True (Ray
kills its worker): `timeout`; a task whose worker died: `crashed` (max_retries=0, no silent
re-run); the run goes on either way.

On a cluster (--ray-address) the run's own probes see only this driver; one probe actor per node
(probes.ray_nodes) samples each node's Ray processes and cores into the run's samples file, and
each trial record names the node that ran it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError, StrategyUnavailable
from bench.records.kinds import Kind
from bench.records.rundir import SAMPLES_FILE
from bench.strategies._base import Availability, Strategy, StrategyContext
from bench.strategies._beats import HeartbeatTail
from bench.strategies._procs import POLL_S, worker_name
from bench.trial.execute import CRASHED, TIMEOUT, TrialRecord, TrialSpec, execute, lost, prepare

if TYPE_CHECKING:
    from probes.ray_nodes import RayNodeProbes

# A task that never reports its start (no shared heartbeat file, e.g. on another node) is timed
# from dispatch, with this allowance for a worker's start-up.
UNSEEN_START_ALLOWANCE_S = 60.0
REPO_ROOT = str(Path(__file__).resolve().parents[2])


def run_trial(spec: TrialSpec) -> TrialRecord:
    """The body of the Ray task (module-level, so workers import it by name)."""
    import ray

    prepare(spec)
    return execute(spec).with_(node=ray.get_runtime_context().get_node_id())


def runtime_env() -> dict[str, Any]:
    """Workers must import this checkout and the user's objective module, wherever they start."""
    paths = [REPO_ROOT, os.getcwd(), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    unique = list(dict.fromkeys(p for p in paths if p))
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(unique)}}


class RayTasks(Strategy):
    name = "ray"
    kind = Kind.RAY
    summary = "Ray remote tasks, one CPU each; a local Ray of W CPUs, or --ray-address"
    can_stop_trial = True  # ray.cancel(force=True) kills the task's worker
    uses_start_method = False

    @classmethod
    def available(cls) -> Availability:
        if importlib.util.find_spec("ray") is None:
            return Availability(False, "ray is not installed (pip install 'ray>=2.9')")
        return Availability(True)

    def run(self, ctx: StrategyContext) -> None:
        try:
            import ray
        except ImportError as exc:
            raise StrategyUnavailable(f"ray cannot be imported: {exc}") from None
        connected_here = self._connect(ray, ctx)
        nodes = None
        # Tasks on other nodes reach the parent's trials over TCP at this node's address; a
        # local instance's workers are on this machine (a Unix socket).
        util: Any = ray.util  # its get_node_ip_address is untyped
        host = str(util.get_node_ip_address()) if ctx.settings.ray_address else None
        try:
            nodes = self._node_probes(ray, ctx)
            with ctx.serve_trials(host):
                self._loop(ray, ctx)
        finally:
            try:
                if nodes is not None:
                    nodes.stop()  # kills the probe actors (Ray would, at disconnect, too)
            finally:
                try:
                    ctx.cancel_pending("the run ended before this trial finished")
                finally:
                    if connected_here:
                        # Local: stops the instance we started. --ray-address: disconnects only.
                        ray.shutdown()

    @staticmethod
    def _connect(ray: Any, ctx: StrategyContext) -> bool:
        if ray.is_initialized():
            return False  # someone else's session (in-process use): use it, leave it
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        common: dict[str, Any] = dict(
            log_to_driver=False, logging_level=logging.WARNING, runtime_env=runtime_env(),
            ignore_reinit_error=True,
        )
        # ray.init replaces SIGTERM's handler with sys.exit; the run's own handler (stop, cancel,
        # write the run's record) must stay, so it is put back.
        saved = _signal_handlers()
        try:
            if ctx.settings.ray_address:
                ray.init(address=ctx.settings.ray_address, **common)
            else:
                # "local": a new instance even when a `ray start` cluster runs on this machine
                # (a plain ray.init() would join that one, with its CPUs, not W).
                ray.init(address="local", num_cpus=ctx.workers, include_dashboard=False, **common)
        except Exception as exc:
            where = ctx.settings.ray_address or "a local instance"
            hint = ""
            if ctx.settings.ray_address and os.environ.get("RAY_AUTH_MODE") != "token":
                hint = ("; if the cluster uses token authentication (the default for `ray start` "
                        "since Ray 2.59), set RAY_AUTH_MODE=token for bench too")
            raise BenchError(
                f"cannot start or join Ray ({where}): {type(exc).__name__}: {exc}{hint}"
            ) from None
        finally:
            _restore_signal_handlers(saved)
        return True

    @staticmethod
    def _node_probes(ray: Any, ctx: StrategyContext) -> RayNodeProbes | None:
        """Per-node probes on a cluster; none for the local instance, whose processes are
        children of this one and so already in the run's own process-tree samples."""
        if not ctx.settings.ray_address:
            return None
        from probes.ray_nodes import RayNodeProbes
        from probes.sink import JsonlSink

        sink = JsonlSink(ctx.results_dir / SAMPLES_FILE)
        probes = RayNodeProbes(ray, sink, interval=ctx.settings.probe_interval, tags={"run": ctx.label})
        try:
            return probes.start()
        except Exception as exc:
            probes.stop()
            # The run goes on without them; the report says why its nodes have no samples.
            sink({"kind": "note", "t": time.time(), "probe": "ray-nodes", "level": "warning",
                  "run": ctx.label, "message": f"per-node probes could not start: "
                  f"{type(exc).__name__}: {str(exc).strip()[:200]}"})
            return None

    def _loop(self, ray: Any, ctx: StrategyContext) -> None:
        from ray.exceptions import RayError, TaskCancelledError

        task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        beats = HeartbeatTail(ctx.heartbeat_path, ctx.label)
        in_flight: dict[Any, tuple[TrialSpec, float]] = {}
        exhausted = False
        while True:
            if ctx.should_stop():
                for ref in in_flight:
                    ray.cancel(ref, force=True)
                return
            while not exhausted and len(in_flight) < ctx.workers:
                spec = ctx.ask()
                if spec is None:
                    exhausted = True
                    break
                in_flight[task.remote(spec)] = (spec, time.time())
            if not in_flight:
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_wait_s(ctx))
            for ref in ready:
                spec, sent = in_flight.pop(ref)
                try:
                    ctx.tell(ray.get(ref))
                except TaskCancelledError:
                    continue  # cancelled by us; already recorded
                except RayError as exc:
                    seen = beats.poll().get(spec.number)
                    pid = seen.pid if seen else 0
                    ctx.tell(lost(spec, CRASHED, _ray_error(exc), seen.t if seen else sent,
                                  pid=pid, worker=worker_name(pid)))
            if ctx.trial_timeout is not None and in_flight:
                self._stop_late(ray, ctx, in_flight, beats)

    @staticmethod
    def _stop_late(
        ray: Any, ctx: StrategyContext, in_flight: dict[Any, tuple[TrialSpec, float]],
        beats: HeartbeatTail,
    ) -> None:
        assert ctx.trial_timeout is not None
        started = beats.poll()
        now = time.time()
        for ref, (spec, sent) in list(in_flight.items()):
            seen = started.get(spec.number)
            late = (now - seen.t > ctx.trial_timeout) if seen else (
                now - sent > ctx.trial_timeout + UNSEEN_START_ALLOWANCE_S)
            if not late:
                continue
            ray.cancel(ref, force=True)
            del in_flight[ref]
            pid = seen.pid if seen else 0
            ctx.tell(lost(spec, TIMEOUT, f"task cancelled (force=True) after the per-trial timeout "
                          f"of {ctx.trial_timeout:g} s", seen.t if seen else sent, pid=pid,
                          worker=worker_name(pid)))


def _signal_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}


def _restore_signal_handlers(saved: dict[int, Any]) -> None:
    for signum, handler in saved.items():
        if handler is not None:
            signal.signal(signum, handler)


def _wait_s(ctx: StrategyContext) -> float:
    left = ctx.time_left()
    return POLL_S if left is None else max(0.0, min(POLL_S, left))


def _ray_error(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}"
    return text[:300]
