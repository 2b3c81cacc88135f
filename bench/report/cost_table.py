"""The report's cost section. Measured on this machine: throughput, core-seconds, efficiency, wall
and cost per quote of trials. Projected: one row per run, a *projected with* column naming the
model each row used, every projected figure with its band, and the catalog entries (date, region,
kind, source; unverified and stale prices flagged) under the table."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bench.analysis.cost import projection
from bench.report import cells as c
from bench.report.cost import TRIALS_PER_QUOTE, ProjectedCost, band_text, catalog_notes

if TYPE_CHECKING:
    from bench.report.markdown import ReportParts


def _money(v: float, currency: str) -> str:
    return c.usd(v) if currency == "USD" else f"{v:.3g} {currency}"


def _projected_cell(pc: ProjectedCost) -> str:
    """"9.8× (6.3–20×) · 51 s (25 s–1.3 min) · $0.05 ($0.02–0.08)": every projected figure with
    its band; an unverified price says so beside its cost."""
    est = pc.estimate
    if est is None or pc.wall_per_quote_s is None or pc.cost_per_quote is None:
        return c.NA
    wall, cost = pc.wall_per_quote_s, pc.cost_per_quote
    cur = pc.vm.currency
    held = est.method in (projection.BASELINE, projection.HELD)
    wall_text, cost_text = c.seconds(wall[0]), _money(cost[0], cur)
    if not held:
        wall_text += f" ({c.seconds(wall[1])}–{c.seconds(wall[2])})"
        cost_text += f" ({_money(cost[1], cur)}–{_money(cost[2], cur)})"
    if not pc.vm.verified:
        cost_text += " unverified price"
    return f"{band_text(est)} · {wall_text} · {cost_text}"


def projected_section(p: ReportParts) -> list[str]:
    """The projected table: a model column per row, a band in every projected cell, the catalog
    entries (date, region, source) under it."""
    q = TRIALS_PER_QUOTE
    vms = p.catalog.vms
    today = _today(p)
    header = ["run", "projected with"] + [
        f"{vm.name} ({vm.vcpus} vCPU, "
        + ("physical cores unknown" if vm.physical_cores is None else f"{vm.physical_cores} physical cores")
        + f", {vm.price_per_hour:g} {vm.currency}/h {vm.kind}"
        + ("" if vm.verified else ", unverified price")
        + (f", price of {vm.as_of.isoformat()}: over a year old" if vm.stale(today) else "")
        + f"): speedup (band) · wall · cost per {q} trials (projected)"
        for vm in vms
    ]
    by_run: dict[str, list[ProjectedCost]] = {}
    for pc in p.projected:
        by_run.setdefault(pc.label, []).append(pc)
    describe = getattr(p.model, "describe", None)
    rows, used = [], []
    for label, pcs in by_run.items():
        first = next((pc.estimate for pc in pcs if pc.estimate is not None), None)
        used += [pc.estimate.method for pc in pcs if pc.estimate is not None]
        model = describe(first) if describe else p.model.name
        rows.append([f"`{label}`", model, *[_projected_cell(pc) for pc in pcs]])
    explain = getattr(p.model, "explain", None)
    known = all(vm.physical_cores is not None for vm in vms)
    assumption = explain(used, known, p.measured) if explain else p.model.assumption
    return [
        f"### Projected on catalog VMs ({p.model.name})",
        "",
        c.table(header, rows, right=tuple(range(2, len(header)))),
        "",
        f"*Assumption:* {assumption}",
        "",
        f"Catalog `{p.catalog_source}`:",
        *catalog_notes(p.catalog, today),
    ]


def _today(p: ReportParts) -> dt.date:
    """The date prices are aged against: today, since the catalog is today's, not the run's."""
    return dt.datetime.now(dt.UTC).date()


def _throughput(per_s: float | None, evals_per_trial: int | None) -> str:
    if per_s is None:
        return c.NA
    text = f"{per_s * 60:.1f} trials/min"
    if evals_per_trial:
        text += f" · {per_s * evals_per_trial:,.0f} evals/s"
    return text


def cost_section(p: ReportParts) -> str:
    price = p.price_per_hour
    q = TRIALS_PER_QUOTE
    here = (
        f"$ / {q} trials here at ${price:g}/h (measured)"
        if price
        else f"$ / {q} trials here (measured)"
    )
    evals = p.diagnosis.recorded.evaluations_per_trial
    measured_rows = [
        [
            f"`{m.label}`",
            m.kind,
            _throughput(m.throughput, evals),
            c.num(m.core_s_per_trial, 2),
            c.pct(m.efficiency),
            c.seconds(m.wall_per_quote_s),
            c.usd(m.usd_per_quote),
        ]
        for m in p.measured
    ]
    out = [
        "## Cost",
        "",
        "### Measured on this machine",
        "",
        c.table(
            (
                "run",
                "runs trials as",
                "useful throughput (measured)",
                "CPU core-s / trial (measured)",
                "useful efficiency (measured)",
                f"wall / {q} trials here (measured)",
                here,
            ),
            measured_rows,
            right=(2, 3, 4, 5, 6),
        ),
        "",
        "Useful throughput: completed (or pruned) trials"
        + (" (and the GA fitness evaluations they hold)" if evals else "")
        + " per unit of time over the trials. CPU core-seconds per trial: the process-tree samples' CPU over "
        f"the trials divided by completed trials. Wall per {q} trials: the run's start-up + {q} / "
        "(completed trials per second over the trials). "
        + (
            f"Cost at ${price:g} per hour for this machine."
            if price
            else "No price for this machine: pass `--price-per-hour X`."
        ),
    ]
    if p.catalog.vms and p.projected:
        out += ["", *projected_section(p)]
    return "\n".join(out)
