"""The one-paragraph verdict: the root cause in plain words, its evidence, the strategy to use."""

from __future__ import annotations

from bench.analysis.diagnose import Diagnosis, Finding
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.findings import headline
from bench.config.labels import base_name
from bench.report import cells as c

# Below this speedup over sequential no strategy is worth recommending at this size.
MIN_USEFUL_SPEEDUP = 1.2
# Useful efficiency above this is more than the extra workers can explain: the baseline's own
# trials were slower, which the verdict says instead of letting the figure stand.
SUPERLINEAR_EFFICIENCY = 1.15
_PROBLEM = (F.ERROR, F.WARNING)
# Speedups this close to the fastest run's are a tie: one run per strategy on a small machine
# varies by about this much from run to run (pool/spawn: 1.97x, then 2.17x, in two reference runs
# of the same command on a quiet 2-core machine).
RUN_NOISE = 0.1
# Among tied runs, the one that needs least: the standard library first, Ray last.
RECOMMEND_ORDER = ("pool", "joblib-loky", "optuna-journal", "islands", "ray")


def problems(d: Diagnosis, label: str) -> list[Finding]:
    """Findings that say something is wrong with the strategy (CONTENDED is about the machine)."""
    fs = d.findings.get(label, [])
    return [f for f in fs if f.severity in _PROBLEM and f.code != F.CONTENDED]


def _contended_runs(d: Diagnosis) -> list[str]:
    """Runs, in plan order, whose measurement shared the machine (CONTENDED)."""
    return [
        lb for lb in d.recorded.labels
        if any(f.code == F.CONTENDED for f in d.findings.get(lb, []))
    ]


def contended_measure(d: Diagnosis, label: str) -> list[str]:
    """The runs among `label` and the baseline its speedup is divided by that shared the machine
    (CONTENDED): when any did, that speedup measures the other load as much as the strategy."""
    base = d.contexts[label].baseline if label in d.contexts else None
    involved = {label} | ({base.label} if base is not None else set())
    return [lb for lb in _contended_runs(d) if lb in involved]


def unjudged_runs(d: Diagnosis) -> list[str]:
    """Completed runs with no finding at all: no rule found a fault, and the evidence did not meet
    HEALTHY's bar either (a watched program at 64% of the cores, under HEALTHY's 70%)."""
    return [
        lb for lb in d.recorded.labels
        if (s := d.recorded.summaries.get(lb)) is not None and s.status == "ok"
        and not d.findings.get(lb)
    ]


def fastest_run(d: Diagnosis) -> str | None:
    """The completed run with the highest useful speedup (throughput when there is no baseline)."""
    scored = [
        (s.speedup if s.speedup is not None else 0.0, s.throughput or 0.0, -i, lb)
        for i, lb in enumerate(d.recorded.labels)
        if (s := d.recorded.summaries.get(lb)) is not None and s.status == "ok" and s.throughput
    ]
    return max(scored)[3] if scored else None


def _simplicity(label: str) -> tuple[int, int]:
    """Lower is simpler: the strategy's place in RECOMMEND_ORDER, then plain before a variant."""
    name = base_name(label)
    place = RECOMMEND_ORDER.index(name) if name in RECOMMEND_ORDER else len(RECOMMEND_ORDER)
    return place, int(label != name)


def best_run(d: Diagnosis) -> str | None:
    """The run to recommend: the simplest healthy run within RUN_NOISE of the fastest (one run per
    strategy cannot tell such runs apart), else the fastest."""
    top = fastest_run(d)
    if top is None:
        return None
    best = d.recorded.summaries[top].speedup
    if best is None:
        return top
    close = [
        lb for lb in d.recorded.labels
        if (s := d.recorded.summaries.get(lb)) is not None and s.status == "ok"
        and s.speedup is not None and s.speedup >= best * (1.0 - RUN_NOISE)
        and not problems(d, lb) and s.workers > 1
    ]
    return min(close, key=_simplicity) if close else top


def primary(d: Diagnosis) -> tuple[str, list[Finding]] | None:
    """The run whose problem explains most: root-cause order, then errors first, then the lower
    efficiency (a GIL-bound threads run outranks an oversubscribed pool, whatever the severity)."""
    cands = []
    for i, lb in enumerate(d.recorded.labels):
        ps = problems(d, lb)
        if ps:
            eff = d.contexts[lb].efficiency
            rank = min(f.rank for f in ps)
            not_error = min(f.severity != F.ERROR for f in ps)
            cands.append((rank, not_error, eff if eff is not None else 9.0, i, lb))
    if not cands:
        return None
    lb = min(cands)[4]
    return lb, problems(d, lb)


def _root_cause(d: Diagnosis) -> str:
    if not d.recorded.runs:
        return (
            "**No run finished:** this results directory holds no run record, so there is "
            "nothing to diagnose (was the compare stopped before its first run ended?)."
        )
    top = primary(d)
    if top is None:
        unjudged = unjudged_runs(d)
        health = ""
        if unjudged:
            runs = ", ".join(f"`{lb}`" for lb in unjudged)
            health = (
                f" {runs} {'has' if len(unjudged) == 1 else 'have'} no finding either way (no "
                "fault, and short of HEALTHY's bar or its evidence): health inconclusive, see the "
                "figures."
            )
        if _contended_runs(d):
            # CONTENDED fired: "no rule fired" would be false, and the caution below says why
            # the ratios are not to be trusted.
            return ("**No problem found in the strategies:** no rule found a fault in any run; "
                    "only the measurement's caution (CONTENDED) fired." + health)
        if unjudged:
            return "**No problem found:** no rule found a fault in any run." + health
        return "**No problem found:** no rule fired on any run."
    lb, fs = top
    # "ran 2 trials as threads of one process; it had 60% waiting for the GIL" reads in the order
    # things happen, whatever the root-cause order of the codes.
    fs = sorted(fs[:2], key=lambda f: f.code != F.THREADS_NOT_PROCESSES)
    clauses = "; it ".join(headline(f) for f in fs)
    s = d.recorded.summaries.get(lb)
    tail = ""
    if s is not None and s.speedup is not None:
        tail = (
            f", so its useful speedup was {c.times(s.speedup)} sequential "
            f"({c.pct(s.efficiency)} efficiency)"
        )
    return f"**Root cause ({' + '.join(f.code for f in fs)}):** `{lb}` {clauses}{tail}."


def _recommendation(d: Diagnosis, best: str) -> str:
    s = d.recorded.summaries[best]
    if s.speedup is None and d.recorded.meta.get("kind") == "watch":
        # One program, no strategies beside it: the rate is the figure, the fix is the root
        # cause's next action.
        cause = primary(d)
        rate = (s.throughput or 0.0) * 60
        fix = f" **Next:** {cause[1][0].action}" if cause is not None else ""
        return f"The program completed {s.trials_done} trials at {rate:.1f} trials/min.{fix}"
    if s.speedup is None:
        rate = (s.throughput or 0.0) * 60
        return (
            "No sequential baseline completed, so no speedup can be measured; the highest "
            f"throughput was `{best}` ({rate:.1f} trials/min)."
        )
    if s.speedup < MIN_USEFUL_SPEEDUP:
        why = (
            "other processes held the cores (CONTENDED) — re-run on a quiet machine before "
            "choosing" if _contended_runs(d) else
            "at this size parallelism does not pay — try a larger preset before choosing"
        )
        return (
            f"No strategy ran trials more than {MIN_USEFUL_SPEEDUP:.1f}× faster than sequential "
            f"here (best: `{best}` at {c.times(s.speedup)}); {why}."
        )
    if shared := contended_measure(d, best):
        runs = ", ".join(f"`{lb}`" for lb in shared)
        return (
            f"**Inconclusive (CONTENDED):** `{best}` was fastest at {c.times(s.speedup)} "
            f"sequential with {s.workers} workers, but other processes held the cores during "
            f"{runs}, so that ratio is not the strategy's alone; re-run on a quiet machine before "
            "choosing."
        )
    procs = d.processes_seen(best)
    health = problems(d, best)
    note = f"; mind its {', '.join(f.code for f in health)}" if health else ""
    top = fastest_run(d)
    tie = ""
    if top is not None and top != best:
        t = d.recorded.summaries[top]
        tie = (
            f" `{top}` was fastest at {c.times(t.speedup)}, within the {RUN_NOISE:.0%} one run "
            f"varies by, so the simpler `{best}` is named"
        )
    return (
        f"**Use `{best}`:** {c.times(s.speedup)} sequential with {s.workers} workers "
        f"({procs} busy worker process{'es' if procs != 1 else ''}, {c.pct(s.efficiency)} "
        f"useful efficiency){note}.{tie}" + ("." if tie else "")
    )


def _superlinear(d: Diagnosis, best: str) -> str | None:
    s = d.recorded.summaries[best]
    base = d.contexts[best].baseline
    if s.efficiency is None or s.efficiency <= SUPERLINEAR_EFFICIENCY or base is None:
        return None
    mine = d.observations[best].median_trial_s
    theirs = d.observations[base.label].median_trial_s
    if not mine or not theirs:
        return None
    default = "the library default"
    return (
        "Efficiency above 100% means the baseline was slower per trial, not that "
        f"`{best}` did more than its workers can: a `{base.label}` trial took a median "
        f"{theirs:.2f} s against {mine:.2f} s in `{best}` ({base.threads or default} vs "
        f"{s.threads or default} threads per worker)."
    )


def verdict(d: Diagnosis) -> str:
    """Root cause, evidence, recommendation, other runs' problems: one paragraph of markdown."""
    top = primary(d)
    best = best_run(d)
    parts = [_root_cause(d)]
    if best is not None:
        parts.append(_recommendation(d, best))
    others = [
        f"`{lb}` {', '.join(f.code for f in problems(d, lb))}"
        for lb in d.recorded.labels
        if problems(d, lb) and (top is None or lb != top[0]) and lb != best
    ]
    if others:
        parts.append("Also: " + "; ".join(others) + ".")
    if best is not None and (note := _superlinear(d, best)):
        parts.append(note)
    contended = _contended_runs(d)
    if contended:
        runs = ", ".join(f"`{lb}`" for lb in contended)
        parts.append(
            f"**Caution (CONTENDED):** other processes took a large share of the cores during "
            f"{runs}; re-run on a quiet machine before trusting these ratios."
        )
    if d.recorded.runs and not any(obs.stacks for obs in d.observations.values()):
        parts.append(
            "No stack samples were recorded (see probe notes): GIL evidence, if any, is "
            "inferred from CPU."
        )
    return " ".join(parts)
