"""Two results directories side by side, each difference held against the noise the runs show.

Per run label present in both: throughput, speedup, efficiency, CPU share, findings that appeared
or went away. Whether a throughput difference is larger than noise is decided from the spread of
trial times inside each run, not from a fixed percentage:

- throughput is modelled as concurrency / mean trial time, where concurrency (trial-seconds per
  second of the work phase: about the busy workers) is measured in each run. A 95% bootstrap
  interval (scipy.stats.bootstrap, percentile, fixed seed) of the throughput ratio B/A resamples
  each run's trial times; the difference is real when the interval excludes 1.
- a Mann-Whitney U test (scipy.stats.mannwhitneyu, two-sided) of the two runs' trial times is
  reported beside it: it says whether single trials got slower, which a change in worker count
  does not do.

Machine fingerprints are compared fact by fact, and a different machine shape is a warning: ratios
measured on two shapes are not the same experiment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis.diagnose import Diagnosis, Recorded, analyse, run_metrics

SLOWER = "slower"
FASTER = "faster"
NOISE = "within noise"
NOT_COMPARABLE = "not comparable"

ALPHA = 0.05
# Fewer complete trials than this on a side leave no spread to estimate noise from.
MIN_TRIALS = 3
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 20261201
METHOD = (
    "95% percentile bootstrap of the throughput ratio over each run's trial times "
    "(scipy.stats.bootstrap); Mann-Whitney U of trial times (scipy.stats.mannwhitneyu)"
)

# Fingerprint facts that make two machines "the same shape", and facts worth naming when they
# differ though the shape is the same (a library upgrade can move every ratio).
SHAPE_FACTS = ("cpu_model", "logical_cores", "physical_cores", "usable_cores", "memory_bytes",
               "cgroup_cpu_limit", "smt_siblings", "numa_nodes")
OTHER_FACTS = ("kernel", "cpu_governor", "cpu_max_mhz", "python")
# Settings whose change makes a difference expected rather than a regression found.
CONFIG_KEYS = ("preset", "trials", "generations", "seeds", "population", "mode", "workers", "threads",
               "start_method", "sampler", "sampler_seed", "objective", "direction")


@dataclass(frozen=True)
class DiffRow:
    """One run label in both directories: its figures in A and B and the verdict on throughput."""

    label: str
    verdict: str
    reason: str
    throughput_a: float | None
    throughput_b: float | None
    throughput_ratio: float | None  # B / A
    ratio_low: float | None
    ratio_high: float | None
    trial_median_a: float | None
    trial_median_b: float | None
    p_trial_time: float | None
    speedup_a: float | None
    speedup_b: float | None
    efficiency_a: float | None
    efficiency_b: float | None
    cpu_share_a: float | None
    cpu_share_b: float | None
    findings_appeared: tuple[str, ...]
    findings_gone: tuple[str, ...]


@dataclass(frozen=True)
class Difference:
    """One fact or setting that differs between A and B."""

    name: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Diff:
    a: Path
    b: Path
    same_machine: bool
    machine_differences: tuple[Difference, ...]
    config_differences: tuple[Difference, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    rows: tuple[DiffRow, ...]
    alpha: float = ALPHA

    def significant(self) -> list[DiffRow]:
        return [r for r in self.rows if r.verdict in (SLOWER, FASTER)]

    def regressions(self) -> list[DiffRow]:
        return [r for r in self.rows if r.verdict == SLOWER]

    def warnings(self) -> list[str]:
        out = []
        if not self.same_machine:
            facts = ", ".join(f"{d.name} {d.a} vs {d.b}" for d in self.machine_differences
                              if d.name in SHAPE_FACTS) or "fingerprint id"
            out.append(f"the two runs come from different machine shapes ({facts}): ratios may "
                       "not be comparable")
        versions = [d for d in self.machine_differences if d.name.startswith("versions.")]
        if versions:
            out.append("library versions differ: " + ", ".join(
                f"{d.name[9:]} {d.a} vs {d.b}" for d in versions))
        if self.config_differences:
            out.append("settings differ, so differences may be by design: " + ", ".join(
                f"{d.name} {d.a} vs {d.b}" for d in self.config_differences))
        return out


def trial_times(rec: Recorded, label: str) -> list[float]:
    """Seconds of each complete trial of a run."""
    out = []
    for t in rec.trials.get(label, []):
        if t.get("state") == "complete" and t.get("start") is not None and t.get("end") is not None:
            out.append(float(t["end"]) - float(t["start"]))
    return out


def _concurrency(times: Sequence[float], work_wall: float | None) -> float | None:
    """Trials' seconds per second of the work phase: how many ran at once, on average."""
    if not times or not work_wall:
        return None
    return sum(times) / work_wall


def ratio_interval(a: Sequence[float], b: Sequence[float], conc_a: float, conc_b: float
                   ) -> tuple[float, float]:
    """95% bootstrap interval of (conc_b / mean b) / (conc_a / mean a), resampling trial times."""
    import numpy as np
    from scipy.stats import bootstrap

    scale = conc_b / conc_a

    def stat(x: Any, y: Any, axis: int = -1) -> Any:
        return scale * np.mean(x, axis=axis) / np.mean(y, axis=axis)

    res = bootstrap((np.asarray(a, float), np.asarray(b, float)), stat, vectorized=True,
                    paired=False, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=1 - ALPHA,
                    method="percentile", random_state=np.random.default_rng(BOOTSTRAP_SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _median(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def compare_run(label: str, da: Diagnosis, db: Diagnosis, ma: Mapping[str, Any], mb: Mapping[str, Any]
                ) -> DiffRow:
    ta, tb = trial_times(da.recorded, label), trial_times(db.recorded, label)
    sa, sb = da.recorded.summaries.get(label), db.recorded.summaries.get(label)
    thr_a, thr_b = ma.get("throughput"), mb.get("throughput")
    ca = _concurrency(ta, sa.work_wall if sa else None)
    cb = _concurrency(tb, sb.work_wall if sb else None)
    ratio = thr_b / thr_a if thr_a and thr_b else None
    low = high = p = None
    if ma.get("status") != "ok" or mb.get("status") != "ok":
        verdict, reason = NOT_COMPARABLE, f"status {ma.get('status')} vs {mb.get('status')}"
    elif len(ta) < MIN_TRIALS or len(tb) < MIN_TRIALS or not ca or not cb:
        verdict = NOT_COMPARABLE
        reason = f"{len(ta)} and {len(tb)} complete trials: at least {MIN_TRIALS} a side are needed"
    else:
        low, high = ratio_interval(ta, tb, ca, cb)
        p = mann_whitney_p(ta, tb)
        if high < 1.0:
            verdict = SLOWER
        elif low > 1.0:
            verdict = FASTER
        else:
            verdict = NOISE
        reason = f"throughput ratio 95% interval {low:.2f}-{high:.2f}"
    found_a, found_b = set(ma.get("findings") or ()), set(mb.get("findings") or ())
    return DiffRow(
        label=label, verdict=verdict, reason=reason, throughput_a=thr_a, throughput_b=thr_b,
        throughput_ratio=ratio, ratio_low=low, ratio_high=high, trial_median_a=_median(ta),
        trial_median_b=_median(tb), p_trial_time=p if p is None or math.isfinite(p) else None,
        speedup_a=ma.get("speedup"), speedup_b=mb.get("speedup"),
        efficiency_a=ma.get("efficiency"), efficiency_b=mb.get("efficiency"),
        cpu_share_a=ma.get("cpu_share"), cpu_share_b=mb.get("cpu_share"),
        findings_appeared=tuple(sorted(found_b - found_a)),
        findings_gone=tuple(sorted(found_a - found_b)),
    )


def _flatten(machine: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: machine.get(k) for k in (*SHAPE_FACTS, *OTHER_FACTS) if k in machine}
    for name, version in (machine.get("versions") or {}).items():
        out[f"versions.{name}"] = version
    return out


def machine_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[Difference, ...]:
    fa, fb = _flatten(a), _flatten(b)
    keys = [k for k in {**fa, **fb} if fa.get(k) != fb.get(k) and k in fa and k in fb]
    return tuple(Difference(k, fa.get(k), fb.get(k)) for k in keys)


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[Difference, ...]:
    return tuple(Difference(k, a.get(k), b.get(k)) for k in CONFIG_KEYS if a.get(k) != b.get(k))


def diff(da: Diagnosis, db: Diagnosis) -> Diff:
    """Compare two diagnosed results directories run label by run label."""
    ma, mb = run_metrics(da), run_metrics(db)
    labels = [lb for lb in ma if lb in mb]
    mach_a = da.recorded.meta.get("machine") or {}
    mach_b = db.recorded.meta.get("machine") or {}
    return Diff(
        a=da.recorded.path or Path("A"), b=db.recorded.path or Path("B"),
        same_machine=bool(mach_a.get("id")) and mach_a.get("id") == mach_b.get("id"),
        machine_differences=machine_differences(mach_a, mach_b),
        config_differences=config_differences(da.recorded.config, db.recorded.config),
        only_in_a=tuple(lb for lb in ma if lb not in mb),
        only_in_b=tuple(lb for lb in mb if lb not in ma),
        rows=tuple(compare_run(lb, da, db, ma[lb], mb[lb]) for lb in labels),
    )


def diff_dirs(a: str | Path, b: str | Path) -> Diff:
    """`diff` of two saved results directories (each checked like any results directory)."""
    return diff(analyse(Recorded.load(a)), analyse(Recorded.load(b)))
