"""sequential: one trial after another in the run's own process, the baseline of every speedup."""

from __future__ import annotations

from bench.records.kinds import Kind
from bench.strategies._alarm import execute_with_alarm
from bench.strategies._base import Strategy, StrategyContext


class Sequential(Strategy):
    name = "sequential"
    kind = Kind.INLINE
    summary = "trials one after another in one process (the baseline)"
    can_stop_trial = True  # via SIGALRM between Python bytecodes, in the main thread

    def run(self, ctx: StrategyContext) -> None:
        while (spec := ctx.ask()) is not None:
            # The study lives here: define-by-run, the objective gets the study's own trial
            # (sampler, pruner and all); with a declared space, a FixedTrial as workers do.
            live = ctx.live_trial(spec.number) if ctx.search_space is None else None
            ctx.tell(execute_with_alarm(spec, ctx.trial_timeout, live))
