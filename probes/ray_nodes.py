"""Probes on every node of a Ray cluster: one small actor per alive node samples that node's Ray
process tree (its raylet, the workers the raylet started, Ray's agents) and per-core CPU with the
process-tree sampler; the driver pulls the samples every second and hands them to a sink.

Each record is a process-tree sample (schema in `probes.tree`) with, in addition::

    {"kind": "node", "node_id", "node_ip", "hostname", "ray_cpus", "probe_pid",
     "workers": [pid, ...]}

`root` is the node's raylet; `workers` lists the Ray worker processes of the sample (the probe's
own process, the raylet and Ray's agents left out). The probe's process is in `procs` (it is part
of the node's tree); readers leave it out by `probe_pid`.

The actors take no CPU slot (num_cpus=0), are pinned to their node (NodeAffinitySchedulingStrategy,
not soft), and are never restarted. `stop()` kills them; a driver that dies without calling it
takes them along (Ray kills an owner's actors when the owner dies).
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from probes._sampler import Sampler
from probes.tree import ProcessTreeSampler, is_ray_agent, is_ray_worker, looks_python

Sink = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)

NODE_KIND = "node"
PROBE = "ray-nodes"
# Samples an actor keeps when the driver does not pull them (a stalled driver must not grow a
# node's memory without bound); at 0.5 s this is over an hour.
MAX_BUFFERED = 8000


def raylet_pid(pid: int | None = None) -> int:
    """The raylet that started this worker process (its nearest ancestor named `raylet`), or the
    parent when there is none (a worker started some other way: its parent's tree is the node's)."""
    proc = psutil.Process(pid)
    try:
        for parent in proc.parents():
            if parent.name() == "raylet":
                return int(parent.pid)
    except psutil.Error:
        pass
    return int(proc.ppid())


def node_workers(
    sample: dict[str, Any], probe_pid: int, commands: dict[int, str] | None = None
) -> list[int]:
    """Pids of the Ray worker processes in a process-tree sample of a node (rooted at its raylet).
    A row carries its command line only when first listed; `commands` (pid -> command line, the
    sampler's `commands()`) supplies it for the others.

    A worker starting up is still `python …/ray/_private/workers/default_worker.py` and the
    sample's command line is cut short, so any Python process under the raylet that is not one
    of Ray's agents counts too."""
    out = []
    for p in sample.get("procs", []):
        cmd = str(p.get("cmd") or (commands or {}).get(int(p.get("pid") or 0), ""))
        name = str(p.get("name", ""))
        if p.get("pid") == probe_pid or name == "raylet" or not cmd:
            continue
        if is_ray_worker(cmd) or (looks_python(name, cmd.split(" ", 1)) and not is_ray_agent(cmd)):
            out.append(int(p["pid"]))
    return sorted(out)


class NodeProbe:
    """The body of the per-node actor: a process-tree sampler rooted at this node's raylet whose
    samples wait in a bounded buffer until the driver drains them."""

    def __init__(self, interval: float, node: dict[str, Any]) -> None:
        self.pid = os.getpid()
        self.node = {**node, "hostname": socket.gethostname(), "probe_pid": self.pid}
        self._commands: dict[int, str] = {}
        self._buffer: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_BUFFERED)
        # every row in every sample: the cluster view sums the threads of idle workers too
        self.sampler = ProcessTreeSampler(
            raylet_pid(), self._buffer.append, interval=interval, compact=False
        )
        self.sampler.start()

    def drain(self) -> list[dict[str, Any]]:
        """The samples taken since the last drain, oldest first, as node records."""
        out = []
        if len(self._commands) > 10_000:
            self._commands.clear()
        self._commands.update(self.sampler.commands())
        commands = self._commands
        while self._buffer:
            sample = self._buffer.popleft()
            # a worker that exited before this drain is known only by the row that listed it
            commands.update((int(p["pid"]), str(p["cmd"])) for p in sample["procs"] if "cmd" in p)
            out.append({**sample, "kind": NODE_KIND, **self.node,
                        "workers": node_workers(sample, self.pid, commands)})
        return out

    def stop(self) -> list[dict[str, Any]]:
        """Stop sampling; the last samples."""
        self.sampler.stop(timeout=1.0)
        return self.drain()


class RayNodeProbes(Sampler):
    """One NodeProbe actor per alive node of the cluster `ray` is connected to, drained into `sink`
    (with `tags` merged) every `pull_every` s by a daemon thread; nodes that join later get one
    within `rescan_every` s. Use as a context manager (probes._sampler); stop() is idempotent,
    pulls the last samples and kills the actors."""

    name = "probe-ray-nodes"

    def __init__(
        self,
        ray: Any,
        sink: Sink,
        *,
        interval: float = 0.5,
        pull_every: float = 1.0,
        rescan_every: float = 5.0,
        stop_timeout: float = 3.0,
        tags: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(pull_every, stop_timeout)
        self.ray = ray
        self.interval = interval
        self.pull_every = pull_every
        self.rescan_every = rescan_every
        self.tags = dict(tags or {})
        self._sink = sink
        self._actors: dict[str, Any] = {}  # node id -> actor handle
        self._hosts: dict[str, str] = {}  # node id -> host name, for notes
        self._pending: dict[Any, str] = {}  # drain ref -> node id
        self._given_up: set[str] = set()
        self._actor_cls: Any = None
        self._lock = threading.Lock()
        self._next_scan = 0.0
        self._stopped = False

    @property
    def nodes(self) -> list[str]:
        """Ids of the nodes that have a probe now."""
        with self._lock:
            return list(self._actors)

    # life cycle (probes._sampler) -------------------------------------------------------
    def _before_start(self) -> None:
        self._actor_cls = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeProbe)
        self._spawn_missing()
        self._next_scan = time.monotonic() + self.rescan_every

    def _on_request_stop(self) -> None:
        with self._lock:  # no new actor from here on, even from a scan in flight
            self._stopped = True

    def start(self) -> RayNodeProbes:
        if self._stopped:  # its actors are gone: a stopped RayNodeProbes is not started again
            return self
        return super().start()

    def tick(self) -> bool:
        if time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + self.rescan_every
            self._spawn_missing()
        self.pull()
        return True

    def _after_stop(self) -> None:
        """Pull the last samples (at most `stop_timeout` s), then kill every actor."""
        with self._lock:
            actors = dict(self._actors)
            self._actors.clear()
        try:
            with self._lock:
                refs = dict(self._pending)
                self._pending.clear()
            for node, actor in actors.items():
                try:
                    refs[actor.stop.remote()] = node
                except Exception as exc:  # a dead actor must not stop the others
                    self._note(node, f"cannot stop: {type(exc).__name__}: {exc}")
            self._collect(refs, self.stop_timeout)
        finally:
            for actor in actors.values():
                self._kill(actor)

    def _kill(self, actor: Any) -> None:
        if actor is None:
            return
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            log.debug("ray.kill of a node probe failed", exc_info=True)

    # work ---------------------------------------------------------------------------------
    def _spawn_missing(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        for n in self.ray.nodes():
            node = str(n.get("NodeID", ""))
            if not n.get("Alive") or not node:
                continue
            with self._lock:
                if self._stopped or node in self._actors or node in self._given_up:
                    continue
                info = {
                    "node_id": node,
                    "node_ip": n.get("NodeManagerAddress"),
                    "ray_cpus": (n.get("Resources") or {}).get("CPU"),
                }
                self._hosts[node] = str(n.get("NodeManagerHostname") or n.get("NodeManagerAddress"))
                try:
                    self._actors[node] = self._actor_cls.options(
                        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                    ).remote(self.interval, info)
                except Exception as exc:  # one node's failure is a note
                    self._given_up.add(node)
                    self._note(node, f"cannot start: {type(exc).__name__}: {exc}")

    def pull(self) -> None:
        """Hand the samples of drains that have returned to the sink; ask every probe without a
        drain in flight for its next batch (never waits for a slow node)."""
        with self._lock:
            pending = dict(self._pending)
        self._collect(pending, 0.0, keep=True)
        with self._lock:
            waiting = set(self._pending.values())
            for node, actor in self._actors.items():
                if node not in waiting:
                    self._pending[actor.drain.remote()] = node

    def _collect(self, refs: dict[Any, str], timeout: float, keep: bool = False) -> None:
        if not refs:
            return
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        for ref in ready:
            node = refs[ref]
            if keep:
                with self._lock:
                    self._pending.pop(ref, None)
            try:
                records = self.ray.get(ref)
            except Exception as exc:  # the actor or its node died, or a drain failed
                with self._lock:
                    actor = self._actors.pop(node, None)
                    self._given_up.add(node)
                self._kill(actor)  # a probe given up must not live on (a failed drain, not a death)
                # Ray's errors run to many lines (actor id, pid, ip, a long reason): the first says it.
                first = (str(exc).strip().splitlines() or [""])[0].strip()[:160]
                self._note(node, f"stopped: {type(exc).__name__}: {first}")
                continue
            for record in records:
                self._emit(record)

    def _emit(self, record: dict[str, Any]) -> None:
        try:
            self._sink({**record, **self.tags} if self.tags else record)
        except Exception:
            self.errors += 1
            log.warning("ray node probes: sink failed", exc_info=self.errors == 1)

    def _note(self, node: str, message: str) -> None:
        host = self._hosts.get(node, "?")
        self._emit({
            "kind": "note", "t": time.time(), "probe": PROBE, "level": "warning",
            "message": f"probe on Ray node {node[:8]} ({host}) {message}; that node's samples "
                       "stop here",
            "node_id": node,
        })
