"""A watch's results directory, shaped like a strategy run's so `analyse`, `bench report` and
`bench gate` read it: run.json (kind "watch", plan ["watch"]), runs.jsonl (one record for the
watched command), trials.jsonl (written by the tracer inside the command), samples.jsonl (the
probes), plus trace.jsonl (the tracer's hook status and ask events)."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.records.rundir import SAMPLES_FILE, TRIALS_FILE, RunDir, read_jsonl
from bench.records.schema import check_object, check_trial
from bench.trial.tracer import TRACE_FILE
from probes.sink import JsonlSink

LABEL = "watch"


def create(out: Path | None) -> RunDir:
    """The output directory: `out`, or reports/watch-<stamp>; never one that holds samples."""
    if out is None:
        return RunDir.create("reports", f"watch-{time.strftime('%Y%m%d-%H%M%S')}")
    if (out / SAMPLES_FILE).exists() or (out / TRIALS_FILE).exists():
        raise ConfigError(f"{out} already holds results; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror}") from None
    return RunDir(out)


@dataclass(frozen=True)
class Hook:
    """What the tracer said from inside the command: did it trace trials, and if not, why."""

    armed: int  # Python processes that loaded the tracer
    installed: int  # of those, processes whose Optuna it wrapped
    reasons: tuple[str, ...]  # why it stepped aside where it did

    @property
    def traced(self) -> bool:
        return self.installed > 0

    def sentence(self) -> str:
        if self.traced:
            return f"trials traced from inside {self.installed} process(es) that imported Optuna"
        if self.reasons:
            return "samples only: the trial tracer stepped aside (" + "; ".join(self.reasons) + ")"
        if self.armed:
            return (f"samples only: {self.armed} Python process(es) ran, none imported Optuna, "
                    "so there are no trial records")
        return ("samples only: no Python process loaded the trial tracer (not a Python program, "
                "or one started with -I/-E or its own PYTHONPATH), so there are no trial records")

    def to_dict(self) -> dict[str, Any]:
        return {"armed": self.armed, "installed": self.installed, "reasons": list(self.reasons),
                "traced": self.traced, "sentence": self.sentence()}


def read_hook(events: Sequence[dict[str, Any]]) -> Hook:
    armed = {e.get("pid") for e in events if e.get("event") == "armed"}
    installed = {e.get("pid") for e in events if e.get("event") == "hook" and e.get("status") == "installed"}
    reasons = sorted({
        f"optuna {e.get('optuna', '?')}: {e.get('reason')}"
        for e in events if e.get("event") == "hook" and e.get("status") != "installed"
    })
    return Hook(len(armed), len(installed), tuple(reasons))


def unfinished(events: Sequence[dict[str, Any]], trials: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask events of trials that have no record (in flight when the watch ended)."""
    done = {(t.get("study"), t.get("number")) for t in trials}
    asked = {(e.get("study"), e.get("number")): e for e in events if e.get("event") == "ask"}
    return [e for k, e in asked.items() if k not in done]


def lost_records(asks: Sequence[dict[str, Any]], end: float, reason: str) -> list[dict[str, Any]]:
    """Records for trials the command never finished because it ended (killed, exited)."""
    out: list[dict[str, Any]] = []
    for e in asks:
        optimize = e.get("mode") == "optimize"
        pid = int(e.get("pid") or 0)
        out.append({
            "number": e.get("number"), "state": "crashed", "value": None, "values": None, "params": {},
            "start": e.get("start"), "end": end, "pid": pid if optimize else 0,
            "worker": f"{e.get('host') or ''}:{pid}:{e.get('tid')}" if optimize else "",
            "torch_threads": None, "run": LABEL, "strategy": LABEL,
            "error": reason, "tid": e.get("tid"), "mode": e.get("mode"), "study": e.get("study"),
            "client_pid": pid,
        })
    return out


def shape(trials: Sequence[dict[str, Any]]) -> tuple[str, int]:
    """How the command ran its trials, as a strategy kind, and how many ran at once at most.

    Trials run by study.optimize record the process that ran them: one process with several in
    flight is threads; several processes, processes. Ask/tell trials ran wherever the program sent
    them (a pool, typically): processes, as many as were in flight.
    """
    from bench.analysis.diagnose.observe import peak_overlap

    ran = [t for t in trials if t.get("start") is not None and t.get("end") is not None]
    if not ran:
        return "unknown", 1
    peak = max(1, peak_overlap((float(t["start"]), float(t["end"])) for t in ran))
    pids = {t.get("pid") for t in ran if t.get("mode") == "optimize" and t.get("pid")}
    if any(t.get("mode") == "ask_tell" for t in ran) or len(pids) > 1:
        return "processes", max(peak, len(pids))
    return "threads", peak


def run_record(
    *, start: float, end: float, returncode: int | None, trials: Sequence[dict[str, Any]],
    hook: Hook, left_running: bool, interrupted: bool,
) -> dict[str, Any]:
    kind, workers = shape(trials)
    if left_running:
        status = "running"
    elif interrupted:
        status = "interrupted"
    else:
        status = "ok" if returncode == 0 else "failed"
    return {
        "run": LABEL, "strategy": LABEL, "kind": kind, "workers": workers, "threads": None,
        "threads_policy": "", "start_method": "", "status": status, "start": start, "end": end,
        "wall": round(end - start, 3), "returncode": returncode, "trials_traced": hook.traced,
        "reason": "" if hook.traced else hook.sentence(),
    }


def trial_figures(trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    states = Counter(str(t.get("state")) for t in trials)
    durations = [float(t["end"]) - float(t["start"]) for t in trials
                 if t.get("state") == "complete" and t.get("start") and t.get("end")]
    per_pid = Counter(int(t.get("pid") or 0) for t in trials if t.get("pid"))
    return {
        "trials": len(trials), "states": dict(states),
        "median_trial_s": round(statistics.median(durations), 4) if durations else None,
        "trial_pids": len(per_pid), "studies": len({t.get("study") for t in trials}),
    }


def close_trials(rd: RunDir, end: float, reason: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Every trial record, with `crashed` records appended for trials left unfinished when
    `reason` says the program ended; returns (trials, trace events, trials in flight at the end)."""
    events = read_jsonl(rd.file(TRACE_FILE), check_object)
    trials: list[Any] = read_jsonl(rd.file(TRIALS_FILE), check_trial)
    left = unfinished(events, trials)
    lost = lost_records(left, end, reason) if reason else []
    if lost:
        app = JsonlSink(rd.file(TRIALS_FILE))
        for rec in lost:
            app.append(rec)
    return [*trials, *lost], events, len(left)
