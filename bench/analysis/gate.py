"""Regression gate rules: pure functions from (rules, measured ratios[, baseline]) to pass/fail rows.

Rules live in `[tool.bench.gate]` (pyproject.toml) or `[gate]` (bench.toml), keyed by run label,
with `default` applying to every run:

    [tool.bench.gate.default]
    max_drop = 0.25                 # speedup may fall at most 25 % below the baseline run's
    [tool.bench.gate.pool]
    min_speedup = 1.3               # vs sequential, same results dir
    min_efficiency = 0.6
    min_processes = 2               # worker processes seen
    forbid = ["OVERSUBSCRIBED"]     # findings that must not appear
    [tool.bench.gate."optuna-threads"]
    require = ["THREADS_NOT_PROCESSES"]   # findings that must appear (the diagnosis still works)

Only ratios measured within one run are compared, never absolute seconds.

A ratio (speedup, efficiency, the drop against a baseline) taken while other processes kept the
cores busy (the diagnosis found CONTENDED on the run, or on the `sequential` run it is divided by)
measures that load, not the strategy: such a check is *inconclusive*, whichever way it came out
(a contended baseline inflates a speedup as surely as a contended run deflates it). It neither
passes nor fails the gate; a gate whose every check was inconclusive has shown nothing (exit 2,
like one that checked nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError

RULE_KEYS = frozenset(
    {"min_speedup", "min_efficiency", "min_processes", "forbid", "require", "max_drop", "required"}
)


@dataclass(frozen=True)
class RuleSet:
    min_speedup: float | None = None
    min_efficiency: float | None = None
    min_processes: int | None = None
    forbid: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    max_drop: float | None = None
    required: bool = True  # a run named by its own rules must be in the results


@dataclass(frozen=True)
class Check:
    """One rule applied to one run: what was measured, the limit, and the verdict."""

    run: str
    rule: str
    measured: str
    limit: str
    passed: bool  # what the figures say, taken at face value
    inconclusive: str = ""  # why the figures cannot be judged (a contended run), when they cannot

    @property
    def failed(self) -> bool:
        """A regression: a conclusive check whose figures break the rule."""
        return not self.passed and not self.inconclusive

    @property
    def result(self) -> str:
        return "inconclusive" if self.inconclusive else "pass" if self.passed else "fail"


def parse_rules(table: Mapping[str, Any], source: str = "gate rules") -> dict[str, RuleSet]:
    """Validate a gate table; any unknown key or bad value is a ConfigError naming it."""
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(f"{source}: no gate rules found ([tool.bench.gate] or [gate])")
    from bench.analysis.diagnose import CODES

    out: dict[str, RuleSet] = {}
    for label, rules in table.items():
        if not isinstance(rules, Mapping):
            raise ConfigError(f"{source}: [gate.{label}] must be a table of rules")
        unknown = sorted(set(rules) - RULE_KEYS)
        if unknown:
            raise ConfigError(
                f"{source}: unknown gate rule {unknown[0]!r} for {label!r}; known: {', '.join(sorted(RULE_KEYS))}"
            )
        kw: dict[str, Any] = {}
        for key in ("min_speedup", "min_efficiency", "max_drop"):
            if key in rules:
                v = rules[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise ConfigError(
                        f"{source}: {label}.{key} must be a finite non-negative number, got {v!r}"
                    )
                kw[key] = float(v)
        if "min_processes" in rules:
            v = rules["min_processes"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{source}: {label}.min_processes must be an integer >= 1, got {v!r}")
            kw["min_processes"] = v
        for key in ("forbid", "require"):
            if key in rules:
                codes = rules[key]
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise ConfigError(f"{source}: {label}.{key} must be a list of finding codes")
                bad = [c for c in codes if c not in CODES]
                if bad:
                    raise ConfigError(
                        f"{source}: {label}.{key} names unknown finding {bad[0]!r}; known: {', '.join(CODES)}"
                    )
                kw[key] = tuple(codes)
        if "required" in rules:
            if not isinstance(rules["required"], bool):
                raise ConfigError(f"{source}: {label}.required must be true or false")
            kw["required"] = rules["required"]
        out[str(label)] = RuleSet(**kw)
    return out


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def evaluate(
    rules: Mapping[str, RuleSet],
    metrics: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Check]:
    """Apply every rule to every run it names (plus `default` to all runs present)."""
    checks: list[Check] = []
    default = rules.get("default")
    labels = list(metrics)
    for label in [k for k in rules if k != "default" and k not in metrics]:
        if rules[label].required:
            checks.append(Check(label, "present", "missing", "run must be in the results", False))
    seq = _divisor(metrics)
    base_seq = _divisor(baseline or {})
    for label in labels:
        m = metrics[label]
        base = (baseline or {}).get(label)
        ratio = _contention([(label, m), seq])
        drop = _contention([(label, m), seq, (f"the baseline's {label}", base),
                            (f"the baseline's {base_seq[0]}", base_seq[1])])
        for rs in [r for r in (default, rules.get(label)) if r is not None]:
            checks.extend(_apply(label, rs, m, base, ratio, drop))
    return checks


def _divisor(metrics: Mapping[str, Mapping[str, Any]]) -> tuple[str, Mapping[str, Any] | None]:
    """The run speedups are divided by, chosen as the summary chooses it: the first sequential
    run with a throughput (label and metrics; no metrics when there is none)."""
    return next(
        ((label, m) for label, m in metrics.items()
         if m.get("strategy") == "sequential" and m.get("throughput")),
        ("sequential", None),
    )


def _contention(runs: list[tuple[str, Mapping[str, Any] | None]]) -> str:
    """Why a ratio over these runs cannot be judged: which of them ran contended, and how much of
    the cores others took ("" when none did)."""
    from bench.analysis.diagnose.findings import contended

    parts = []
    for name, m in runs:
        if m is None or contended.CODE not in (m.get("findings") or ()):
            continue
        share = m.get("foreign_share")
        took = f" ({share:.0%} of the cores)" if isinstance(share, (int, float)) else ""
        parts.append(f"{name}{took}")
    if not parts:
        return ""
    return ("other processes kept the cores busy while " + ", ".join(dict.fromkeys(parts))
            + " ran (CONTENDED): the ratio measures that load, not the strategy")


def _apply(
    label: str, rs: RuleSet, m: Mapping[str, Any], base: Mapping[str, Any] | None,
    ratio_doubt: str = "", drop_doubt: str = "",
) -> list[Check]:
    out: list[Check] = []
    is_baseline = m.get("strategy") == "sequential"
    speedup = m.get("speedup")
    if rs.min_speedup is not None and not is_baseline:
        out.append(Check(label, "min_speedup", _fmt(speedup, ".2f") + "x", f">= {rs.min_speedup:.2f}x",
                         speedup is not None and speedup >= rs.min_speedup, ratio_doubt))
    eff = m.get("efficiency")
    if rs.min_efficiency is not None and not is_baseline:
        out.append(Check(label, "min_efficiency", _fmt(eff, ".0%"), f">= {rs.min_efficiency:.0%}",
                         eff is not None and eff >= rs.min_efficiency, ratio_doubt))
    # Worker processes seen: busy at once in the probe samples, or distinct pids that ran
    # trials (a short run can end between two samples; the trial records still show the pids).
    seen = [v for v in (m.get("processes_seen"), m.get("trial_pids")) if isinstance(v, int)]
    procs = max(seen) if seen else None
    if rs.min_processes is not None and not is_baseline:
        out.append(Check(label, "min_processes", str(procs), f">= {rs.min_processes}",
                         procs is not None and procs >= rs.min_processes))
    found = set(m.get("findings") or ())
    for code in rs.forbid:
        out.append(Check(label, f"forbid {code}", "present" if code in found else "absent", "absent",
                         code not in found))
    for code in rs.require:
        out.append(Check(label, f"require {code}", "present" if code in found else "absent", "present",
                         code in found))
    if rs.max_drop is not None and base is not None and not is_baseline:
        b, s = base.get("speedup"), speedup
        if b:
            drop = (b - s) / b if s is not None else 1.0
            out.append(Check(label, "max_drop vs baseline", f"{_fmt(s)}x vs {_fmt(b)}x ({drop:+.0%} drop)",
                             f"<= {rs.max_drop:.0%} drop", drop <= rs.max_drop, drop_doubt))
    return out


NOTHING_CHECKED = (
    "no rule matched a run in these results, so nothing was checked: name the results' run labels "
    "in the gate rules (or add a `default` table)"
)


ALL_INCONCLUSIVE = (
    "every check was inconclusive, so nothing was shown to hold: re-run on a quiet machine, or add "
    "rules that do not depend on speed (min_processes, forbid, require)"
)


def passed(checks: list[Check]) -> bool:
    """The gate passes when at least one check was conclusive and none failed: a gate that
    checked nothing, or could judge nothing, has not shown that anything holds."""
    return any(not c.inconclusive for c in checks) and not any(c.failed for c in checks)


def verdict(checks: list[Check]) -> str:
    """regression, nothing checked, inconclusive (every check) or pass."""
    if any(c.failed for c in checks):
        return "regression"
    if not checks:
        return "nothing checked"
    return "pass" if passed(checks) else "inconclusive"
