"""islands: one GA run split over W processes (an island model), trials one after another.

Each island evolves population/W individuals for the full number of generations, so a trial
evaluates as many individuals as the sequential GA; every `migrate_every` generations each island
sends copies of its `migrants` best genomes to the next island of a ring, which replace its worst
(and are evaluated once more there). The trial's value is the mean over seeds of the best fitness
found on any island. It parallelises *inside* one trial, so it is the answer when trials are few
and long; it is a different algorithm, so its values are not those of the other strategies.

The W island processes live across trials. A trial past its timeout, or an island that dies,
ends that trial (`timeout` / `crashed`) and the ring is rebuilt for the next one: a ring with a
missing member would block its neighbour forever.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.errors import StrategyUnavailable
from bench.records.kinds import Kind
from bench.strategies._base import Strategy, StrategyContext
from bench.strategies._procs import (
    READY,
    Worker,
    describe_exit,
    init_worker,
    mp_context,
    start_worker,
    stop_workers,
    wait_any,
    wake_in,
    worker_name,
)
from bench.trial import heartbeat
from bench.trial.execute import (
    COMPLETE,
    CRASHED,
    FAILED,
    TIMEOUT,
    TrialRecord,
    TrialSpec,
    error_summary,
    lost,
    worker_id,
)

# Island i of seed s starts from seed s * SEED_STRIDE + i: distinct populations, reproducible.
SEED_STRIDE = 10_007


def island_sizes(population: int, islands: int) -> list[int]:
    """Split the population as evenly as possible (the first islands take the remainder)."""
    base, extra = divmod(population, islands)
    return [base + (1 if i < extra else 0) for i in range(islands)]


def _island(
    conn: Connection, index: int, n: int, to_next: Connection, from_prev: Connection,
    threads: int | None, parent_pid: int,
) -> None:
    """Island process: for each trial spec received, evolve this island and report its bests."""
    init_worker(threads, parent_pid)
    import torch  # noqa: F401  (start-up, not the first trial, pays for the import)

    conn.send(READY)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        spec, size, migrate_every, migrants = msg
        conn.send(_evolve(spec, index, n, size, migrate_every, migrants, to_next, from_prev))


def _evolve(
    spec: TrialSpec, index: int, n: int, size: int, migrate_every: int, migrants: int,
    to_next: Connection, from_prev: Connection,
) -> dict[str, Any]:
    import optuna
    import torch

    from bench.trial import threads as thread_policy
    from bench.workload.ga import GeneticAlgorithm
    from bench.workload.space import suggest

    start = time.time()
    out: dict[str, Any] = {"start": start, "pid": os.getpid(), "worker": worker_id()}
    with heartbeat.trial(spec.heartbeat_path, spec.run, spec.number, worker_id()):
        try:
            params = suggest(optuna.trial.FixedTrial(spec.params, number=spec.number))
            settings = spec.objective.settings
            gens, seeds = settings.generations, spec.objective.seeds
            bests = []
            for s in range(seeds):
                ga = GeneticAlgorithm(params, settings, seed=s * SEED_STRIDE + index, population=size)
                for g in range(1, gens + 1):
                    ga.step()
                    if migrants and n > 1 and g % migrate_every == 0 and g < gens:
                        # Pipes buffer a few KB, so everyone sends first, then receives: no deadlock.
                        to_next.send(ga.emigrants(migrants).tolist())
                        ga.immigrate(torch.tensor(from_prev.recv(), dtype=ga.pop.dtype))
                    heartbeat.beat(s * gens + g, seeds * gens)
                bests.append(ga.best())
            out.update(ok=True, bests=bests)
        except Exception as exc:
            out.update(ok=False, error=error_summary(exc))
    out.update(end=time.time(), torch_threads=thread_policy.current_torch_threads())
    return out


class Islands(Strategy):
    name = "islands"
    kind = Kind.PROCESSES
    summary = "one GA split over W processes, ring migration; trials one after another (GA only)"
    can_stop_trial = True  # the islands are killed and restarted
    ga_only = (
        "islands is the reference GA itself (one GA's population split over processes, with "
        "migration); a user --objective is not a GA and cannot be split that way: use pool, "
        "joblib-loky, ray or optuna-journal for it"
    )
    uses_start_method = True

    def run(self, ctx: StrategyContext) -> None:
        if ctx.objective.user is not None:
            raise StrategyUnavailable(self.ga_only)
        settings = ctx.objective.settings
        n = max(1, min(ctx.workers, settings.population))
        sizes = island_sizes(settings.population, n)
        self._mp = mp_context(ctx.start_method)
        if ctx.start_method == "fork":
            import torch  # noqa: F401  (forked islands start with it loaded)
        islands = self._start_ring(ctx, n)
        try:
            while (spec := ctx.ask()) is not None:
                record, healthy = self._trial(ctx, islands, spec, sizes)
                if record is not None:
                    ctx.tell(record)
                if not healthy:
                    stop_workers(islands)
                    if ctx.should_stop() or ctx.asked >= ctx.n_trials:
                        islands = []
                        break
                    islands = self._start_ring(ctx, n)
        finally:
            stop_workers(islands)
            ctx.cancel_pending("the run ended before this trial finished")

    def _start_ring(self, ctx: StrategyContext, n: int) -> list[Worker]:
        links = [self._mp.Pipe(duplex=False) for _ in range(n)]  # links[i]: island i -> i+1
        islands = []
        for i in range(n):
            to_next = links[i][1]
            from_prev = links[(i - 1) % n][0]
            islands.append(start_worker(
                self._mp, _island, (i, n, to_next, from_prev, ctx.threads), ctx.threads,
                f"corebench-island-{i}",
            ))
        for recv_end, send_end in links:
            recv_end.close()
            send_end.close()
        return islands

    def _trial(
        self, ctx: StrategyContext, islands: list[Worker], spec: TrialSpec, sizes: list[int],
    ) -> tuple[TrialRecord | None, bool]:
        """Run one trial on every island; (record or None if cancelled, islands still usable)."""
        cfg = ctx.settings
        replies: dict[int, dict[str, Any]] = {}
        sent = False
        since = time.time()
        while True:
            if ctx.should_stop():
                return None, False  # cancelled by ctx.cancel_pending
            if not sent and all(w.ready for w in islands):
                since = time.time()
                for i, w in enumerate(islands):
                    w.give(spec, (spec, sizes[i], cfg.migrate_every, cfg.migrants))
                sent = True
            deadline = since + ctx.trial_timeout if sent and ctx.trial_timeout else None
            pending = [w for i, w in enumerate(islands) if i not in replies]
            wait_any(pending, wake_in(ctx.time_left(), deadline))
            for i, w in enumerate(islands):
                if i in replies:
                    continue
                got, msg = w.receive()
                if got and msg == READY:
                    w.ready = True
                elif got and isinstance(msg, dict):
                    replies[i] = msg
                    w.job = None
                elif w.dead() or got:
                    w.proc.join(1.0)
                    error = f"island {i}: {describe_exit(w.pid, w.proc.exitcode)}"
                    return self._lost(spec, CRASHED, error, since, islands), False
            if len(replies) == len(islands):
                healthy = all(r["ok"] for r in replies.values())
                return self._record(spec, replies, len(islands)), healthy
            if deadline is not None and time.time() > deadline:
                error = f"islands killed after the per-trial timeout of {ctx.trial_timeout:g} s"
                return self._lost(spec, TIMEOUT, error, since, islands), False

    @staticmethod
    def _lost(
        spec: TrialSpec, state: str, error: str, since: float, islands: list[Worker],
    ) -> TrialRecord:
        pid = islands[0].pid or 0
        return lost(spec, state, error, since, pid=pid, worker=worker_name(pid)).with_(
            pids=[w.pid or 0 for w in islands]
        )

    @staticmethod
    def _record(spec: TrialSpec, replies: dict[int, dict[str, Any]], n: int) -> TrialRecord:
        ordered = [replies[i] for i in range(n)]
        failed = [r for r in ordered if not r["ok"]]
        value, state, error = None, COMPLETE, None
        if failed:
            state, error = FAILED, failed[0]["error"]
        else:
            seeds = len(ordered[0]["bests"])
            value = sum(max(r["bests"][s] for r in ordered) for s in range(seeds)) / seeds
        first = ordered[0]
        return TrialRecord(
            number=spec.number, state=state, value=value, params=dict(spec.params),
            start=min(r["start"] for r in ordered), end=max(r["end"] for r in ordered),
            pid=first["pid"], worker=first["worker"], torch_threads=first["torch_threads"],
            run=spec.run, error=error, pids=[r["pid"] for r in ordered],
        )
