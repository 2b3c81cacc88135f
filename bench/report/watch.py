"""The report's section for a `bench watch` results directory: the program, how it ended, whether
its trials were traced from inside, and the cost line at the measured rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.analysis.diagnose import Diagnosis
from bench.report.cost import TRIALS_PER_QUOTE

LABEL = "watch"


def is_watch(d: Diagnosis) -> bool:
    return d.recorded.meta.get("kind") == "watch"


def rate(trials: Sequence[Mapping[str, Any]], price_per_hour: float | None) -> dict[str, Any] | None:
    """Complete trials per minute over the work phase (first trial start to last complete end) and
    "at this rate, 100 trials take X h: $Y"; None when no trial completed in measurable time."""
    ok = [t for t in trials if t.get("state") == "complete" and t.get("start") and t.get("end")]
    started = [float(t["start"]) for t in trials if t.get("start")]
    if not ok or not started:
        return None
    work = max(float(t["end"]) for t in ok) - min(started)
    if work <= 0:
        return None
    per_min = 60.0 * len(ok) / work
    hours = TRIALS_PER_QUOTE / per_min / 60.0
    text = (f"{len(ok)} complete trials in {work:.1f} s: {per_min:.2f} trials/min; at this rate "
            f"{TRIALS_PER_QUOTE} trials take {hours:.2f} h")
    out: dict[str, Any] = {"trials_per_min": round(per_min, 4), "hours_per_100": round(hours, 4)}
    if price_per_hour is None:
        text += " (pass `--price-per-hour X` for the cost)"
    else:
        out["usd_per_100"] = round(hours * price_per_hour, 4)
        text += f": ${hours * price_per_hour:.2f} on this machine at ${price_per_hour:g}/h"
    out["text"] = text
    return out


def cost_text(trials: Sequence[Mapping[str, Any]], price_per_hour: float | None) -> str:
    r = rate(trials, price_per_hour)
    return "no trial completed, so there is no rate to project" if r is None else str(r["text"])


def section(d: Diagnosis, price_per_hour: float | None) -> str:
    meta = d.recorded.meta
    w = meta.get("watch") or {}
    run = d.recorded.runs.get(LABEL) or {}
    trials = d.recorded.trials.get(LABEL, [])
    if w.get("left_running"):
        ended = f"still running when the watch ended after {meta.get('duration')} s (left running)"
    elif w.get("exit_code") is None:
        ended = "unknown (the watch did not finish)"
    else:
        stop = w.get("stop") or {}
        how = f", after bench sent {', '.join(stop.get('signals') or [])}" if stop else ""
        ended = f"exit status {w.get('exit_code')} after {meta.get('duration')} s{how}"
    hook = (w.get("hook") or {}).get("sentence") or run.get("reason") or "unknown"
    lines = [
        "## The watched program",
        "",
        f"- **Ended:** {ended}",
        f"- **Trials:** {hook}",
    ]
    if trials:
        states: dict[str, int] = {}
        for t in trials:
            states[str(t.get("state"))] = states.get(str(t.get("state")), 0) + 1
        pids = {t.get("pid") for t in trials if t.get("pid")}
        modes = sorted({str(t.get("mode")) for t in trials if t.get("mode")})
        lines.append(
            f"- **Recorded:** {len(trials)} trials ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + f"), run as `{run.get('kind', '?')}` with up to {run.get('workers', '?')} at once; "
            + (f"objective in {len(pids)} process(es)" if pids else "objective's process not known")
            + (f"; called through {', '.join(modes)}" if modes else "")
        )
        lines.append(f"- **Rate:** {cost_text(trials, price_per_hour)}")
    if w.get("in_flight_at_end"):
        lines.append(f"- **In flight when the watch ended:** {w['in_flight_at_end']}")
    if meta.get("leftovers_stopped"):
        lines.append("- **Left behind by the program, stopped by bench:** pids "
                     + ", ".join(str(p) for p in meta["leftovers_stopped"]))
    return "\n".join(lines)
