"""Which saved sweep curve belongs to which run of a results directory: a curve carries over only
to the run with the same strategy, thread policy and start method, and the differences that could
keep it from carrying over (another machine, another workload) are said, not hidden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.cost.projection import Curve
from bench.analysis.scaling import strategy_sweeps
from bench.config.labels import split
from bench.errors import ResultsError

# Settings of the search that change how long a trial is, and with it how dispatch weighs.
WORKLOAD_KEYS = ("objective", "mode", "population", "generations", "seeds")


@dataclass(frozen=True)
class Matched:
    """The curves of one or more sweep files matched to runs, and what the reader must know."""

    curves: dict[str, Curve]  # run label -> its sweep's curve
    sources: dict[str, str]  # run label -> where its sweep came from
    notes: tuple[str, ...]


def _spec(label: str, threads: Any, start_method: Any) -> tuple[str, str, str]:
    """(strategy, thread policy, start method) of a run label, unset parts from its config."""
    name, policy, start = split(label)
    return name, str(policy or threads or "auto"), str(start or start_method or "fork")


def _describe(spec: tuple[str, str, str]) -> str:
    return f"{spec[0]} with threads {spec[1]}, start method {spec[2]}"


def run_specs(runs: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    """(strategy, thread policy, start method) of every run in a results directory."""
    return {
        label: (
            str(rec.get("strategy") or _spec(label, None, None)[0]),
            str(rec.get("threads_policy") or _spec(label, config.get("threads"), None)[1]),
            str(rec.get("start_method") or _spec(label, None, config.get("start_method"))[2]),
        )
        for label, rec in runs.items()
    }


def _match_one(entry: Mapping[str, Any], source: str, specs: Mapping[str, tuple[str, str, str]],
               runs: Sequence[str]) -> str:
    """The run label a strategy's sweep measured; ResultsError saying why when there is none."""
    cfg = entry.get("config") or {}
    swept = _spec(str(entry.get("strategy") or "?"), cfg.get("threads"), cfg.get("start_method"))
    match = next((label for label, spec in specs.items() if spec == swept), None)
    if match is not None:
        return match
    same = [(label, spec) for label, spec in specs.items() if spec[0] == swept[0]]
    if same:
        have = ", ".join(f"`{label}` ({_describe(spec)})" for label, spec in same)
        raise ResultsError(
            f"sweep {source} measured {_describe(swept)}; the results have {have}: a fit "
            f"carries over only to the same thread policy and start method (sweep that "
            f"variant: bench sweep --strategies {same[0][0]})"
        )
    raise ResultsError(
        f"sweep {source} measured `{swept[0]}`, which is not a run in these results "
        f"(runs: {', '.join(runs) or 'none'}); pass a sweep of one of them"
    )


def _check_fitted(entry: Mapping[str, Any], source: str) -> None:
    try:
        Curve(entry, str(entry.get("strategy"))).at(1)
    except ValueError:
        why = "; ".join(str(n) for n in entry.get("notes") or []) or "no fit"
        raise ResultsError(
            f"sweep {source} has no fitted scaling model for `{entry.get('strategy')}` ({why}); "
            "rerun `bench sweep` with worker counts that complete trials, at least two"
        ) from None


def match(
    docs: Sequence[tuple[Mapping[str, Any], str]],
    runs: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
    machine: Mapping[str, Any],
) -> Matched:
    """Curves for the runs the sweeps measured. A sweep file none of whose strategies is a run
    here, or whose matching strategy has no fit, is a ResultsError; a file's other strategies
    that are not runs here are named in the notes."""
    specs = run_specs(runs, config)
    curves: dict[str, Curve] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []
    for doc, source in docs:
        entries = strategy_sweeps(doc)
        matched, errors = [], []
        for label, entry in entries.items():
            try:
                run = _match_one(entry, source, specs, list(runs))
            except ResultsError as exc:
                errors.append(exc)
                continue
            _check_fitted(entry, source)
            if run in curves:
                notes.append(f"`{run}` is swept in {sources[run]} and {source}: the first is used.")
                continue
            curves[run], sources[run] = Curve(entry, run), source
            matched.append(label)
        if not matched and errors:
            raise errors[0]
        if errors:
            notes.append(f"{source} also swept {', '.join(f'`{e}`' for e in entries if e not in matched)}, "
                         "not runs of these results: not used.")
        notes += _differences(doc, source, config, machine)
    # The first curve is the fallback shape: take it in the results' run order, not the file's.
    order = [lb for lb in runs if lb in curves]
    return Matched({lb: curves[lb] for lb in order}, {lb: sources[lb] for lb in order}, tuple(notes))


def _differences(doc: Mapping[str, Any], source: str, config: Mapping[str, Any],
                 machine: Mapping[str, Any]) -> list[str]:
    notes = []
    theirs, ours = (doc.get("machine") or {}).get("id"), machine.get("id")
    if theirs and ours and theirs != ours:
        notes.append(
            f"The sweep {source} ran on another machine (fingerprint `{theirs}`, these results "
            f"`{ours}`): its curve's shape is applied to this machine's measured figures."
        )
    swept_cfg = doc.get("config") or {}
    differ = [
        f"{k} {swept_cfg.get(k)} vs {config.get(k)}" for k in WORKLOAD_KEYS
        if k in swept_cfg and k in config and swept_cfg.get(k) != config.get(k)
    ]
    if differ:
        notes.append(
            f"The sweep {source} searched another workload ({'; '.join(differ)}): trial length "
            "changes how much dispatch and start-up weigh, so the fit may not carry over."
        )
    return notes
