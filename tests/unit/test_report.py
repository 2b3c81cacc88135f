"""The markdown report: tables recomputed from the raw records match what is rendered, hypotheses
are decided only by their rows, the cost model, plots, links and the `bench report` command."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.cli import main
from bench.errors import ConfigError
from bench.report import build, write_report
from bench.report.cost import MeasuredCost
from bench.report.hypotheses import INCONCLUSIVE, NOT_TESTED, PROVEN, REFUTED, evaluate
from bench.report.links import repo_root, runbook_link
from bench.report.markdown import render
from tests.support import synthetic as S
from tests.support.report_tables import seconds_cell, section, table_rows, usd_cell

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = sorted(p.parent for p in FIXTURES.glob("*/fixture.json"))




def markdown(path: Path, **kw: Any) -> str:
    """The report text without plots (fast): the same tables write_report renders."""
    return render(build(analyse(Recorded.load(path)), path, **kw))


@pytest.fixture()
def seed_dir(tmp_path: Path) -> Path:
    return S.write(S.seed_story(), tmp_path / "seed", S.meta())


# --- independent recomputation from the raw records -----------------------------------------------
def raw(path: Path) -> dict[str, Any]:
    def jl(name: str) -> list[dict[str, Any]]:
        f = path / name
        return (
            [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []
        )

    return {
        "meta": json.loads((path / "run.json").read_text()),
        "runs": jl("runs.jsonl"),
        "trials": jl("trials.jsonl"),
        "samples": jl("samples.jsonl"),
        "beats": jl("heartbeats.jsonl"),
    }


def expected_figures(path: Path) -> dict[str, dict[str, Any]]:
    """Speedup, CPU share, busy worker processes, core-s per trial, recomputed from the files."""
    r = raw(path)
    cores = r["meta"]["machine"]["usable_cores"]
    runs = {x["run"]: x for x in r["runs"]}
    out: dict[str, dict[str, Any]] = {}
    for label, run in runs.items():
        ts = [t for t in r["trials"] if t["run"] == label]
        ok = [t for t in ts if t["state"] == "complete"]
        started = [t for t in ts if t.get("pid") or t.get("mode") == "ask_tell"]
        fig: dict[str, Any] = {"done": len(ok), "wall": run.get("wall")}
        if ok:
            work = max(t["end"] for t in ts if t.get("end")) - min(
                t["start"] for t in started or ok
            )
            fig["throughput"] = len(ok) / work
            fig["startup"] = max(0.0, min(t["start"] for t in started) - run["start"])
            timed = [t["storage_s"] for t in ts if t.get("storage_s") is not None]
            if timed:  # storage seconds over the callers' time during the trials
                fig["storage_share"] = min(1.0, sum(timed) / ((run.get("storage_callers") or 1) * work))
                fig["storage"] = run["storage"]
        spans = [(t["start"], t["end"]) for t in ts if t["state"] != "cancelled"]
        for b in r["beats"]:
            if b["run"] == label and not any(t["number"] == b["trial"] for t in ts):
                spans.append((b["t"], b["t"]))
        tree = sorted(
            (s for s in r["samples"] if s.get("run") == label and s["kind"] == "tree"),
            key=lambda s: s["t"],
        )
        if spans and tree:
            lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
            inside = [s for s in tree if lo < s["t"] <= hi]
            tree = inside if len(inside) >= 2 else tree
        if tree:
            cores_used = [
                s["cpu_pct_total"] / 100 + s["unattributed_cpu_s"] / s["interval"] for s in tree
            ]
            fig["cpu_share"] = statistics.fmean(cores_used) / cores
            fig["core_s"] = sum(c * s["interval"] for c, s in zip(cores_used, tree, strict=True))
            fig["busy_children"] = max(
                sum(1 for p in s["procs"] if p["cpu_pct"] >= 25 and not p["is_root"]) for s in tree
            )
            fig["busy_all"] = max(sum(1 for p in s["procs"] if p["cpu_pct"] >= 25) for s in tree)
        out[label] = fig
    base = next(
        (
            f
            for lb, f in out.items()
            if runs[lb]["strategy"] == "sequential" and f.get("throughput")
        ),
        None,
    )
    for label, fig in out.items():
        if base and fig.get("throughput"):
            fig["speedup"] = fig["throughput"] / base["throughput"]
            fig["efficiency"] = fig["speedup"] / max(1, runs[label].get("workers") or 1)
    return out


def check_tables(md: str, path: Path, price: float | None) -> None:
    """Matrix and cost cells equal the figures recomputed from the raw files."""
    figs = expected_figures(path)
    rec = Recorded.load(path)
    matrix = table_rows(section(md, "## Root-cause matrix"))
    measured = table_rows(section(md, "### Measured on this machine"))
    for label, fig in figs.items():
        row = matrix[label]
        planned = rec.config.get("trials")  # none for a watched program: its own count
        want = f"{fig['done']}/{planned}" if planned else str(fig["done"])
        assert row[6].split()[-1].startswith(want) or want in row[6]
        if fig.get("speedup") is not None:
            if rec.kind(label) == "inline":
                assert row[8] == "1.00× (baseline)"
            else:
                assert row[8] == f"{fig['speedup']:.2f}×"
                assert row[5].endswith(f"{fig['efficiency']:.0%}")
        if fig.get("storage_share") is not None:
            assert f"{fig['storage']} · {fig['storage_share']:.0%} · " in row[9]
        if fig.get("cpu_share") is not None:
            assert f"{fig['cpu_share']:.0%} ·" in row[4]
            kind = rec.kind(label)
            busy = fig["busy_children"] if kind in ("processes", "ray") else fig["busy_all"]
            assert row[2].split("·")[1].strip() == str(busy)
        if label in measured and fig.get("throughput"):
            cells = measured[label]
            wall = fig["startup"] + 100 / fig["throughput"]
            assert cells[2].startswith(f"{fig['throughput'] * 60:.1f} trials/min")
            evals = rec.evaluations_per_trial
            if evals:
                assert cells[2].endswith(f" · {fig['throughput'] * evals:,.0f} evals/s")
            assert cells[5] == seconds_cell(wall)
            if fig.get("core_s") is not None:
                assert cells[3] == f"{fig['core_s'] / fig['done']:.2f}"
            if price:
                assert cells[6] == usd_cell(wall / 3600 * price)




# --- synthetic: the document ----------------------------------------------------------------------
def test_report_files_sections_and_plots(seed_dir: Path) -> None:
    path = write_report(seed_dir, price_per_hour=0.2)
    assert path == seed_dir / "report.md"
    md = path.read_text()
    for heading in (
        "## Root-cause matrix",
        "## Hypotheses",
        "## Cost",
        "### Measured on this machine",
        "### Projected on catalog VMs",
        "## Plots",
        "## Findings",
        "## Probe notes",
    ):
        assert heading in md
    for name in ("cpu", "threads", "throughput"):
        png = seed_dir / f"report_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](report_{name}.png)" in md


def test_header_and_verdict(seed_dir: Path) -> None:
    md = markdown(seed_dir)
    head = md.split("## Root-cause matrix")[0]
    assert "Synthetic CPU" in head and "2 usable cores" in head and "`synthmachine`" in head
    assert "`0123456789ab`" in head and "4 trials" in head and "2023-11-14" in head
    verdict = head.splitlines()[2]
    assert verdict.startswith(
        "**Root cause (THREADS_NOT_PROCESSES + GIL_BOUND):** `optuna-threads`"
    )
    assert "50% of its active Python threads waiting for the GIL" in verdict
    assert "**Use `pool`:** 2.00× sequential" in verdict
    assert "`pool@unlimited` OVERSUBSCRIBED" in verdict


def test_matrix_and_cost_match_recomputed_figures(seed_dir: Path) -> None:
    md = markdown(seed_dir, price_per_hour=0.5)
    check_tables(md, seed_dir, 0.5)
    row = table_rows(section(md, "## Root-cause matrix"))["optuna-threads"]
    assert row[2] == "1 · 1 · 1 (threads)"
    assert row[-1] == "❌ GIL_BOUND, ⚠️ THREADS_NOT_PROCESSES"
    assert table_rows(section(md, "## Root-cause matrix"))["pool"][2] == "✅ 2 · 2 · 2"
    measured = table_rows(section(md, "### Measured on this machine"))
    # 0.5 trials/s; a GA trial of population 16 over 4 generations (+ the initial one) = 80 evals
    assert measured["sequential"][2] == "30.0 trials/min · 40 evals/s"


def test_projected_costs_follow_the_stated_model(seed_dir: Path) -> None:
    md = markdown(seed_dir)
    proj = table_rows(section(md, "### Projected on catalog VMs"))
    # seq: 0.5 trials/s. pool: efficiency 1.0 held on each physical core; the shipped catalog does
    # not know the cores of its VMs, so 64 (vCPUs / 2) with the band reaching to all 128 vCPUs;
    # the low end is Amdahl through (1, 1) and (2, 2 x 0.95): s = 2/1.9 - 1.
    s = 2 / 1.9 - 1
    low = 1 / (s + (1 - s) / 64)
    wall, fast, slow = 100 / 32, 100 / 64, 100 / (0.5 * low)
    assert proj["pool"][1] == "efficiency held; band: two-point Amdahl"
    assert proj["pool"][3] == (
        f"64× ({low:.0f}–128×) · {seconds_cell(wall)} ({seconds_cell(fast)}–{seconds_cell(slow)}) · "
        f"{usd_cell(wall / 3600 * 3.5)} ({usd_cell(fast / 3600 * 3.5)}–{usd_cell(slow / 3600 * 3.5)}) unverified price"
    )
    # threads keep the measured speedup (1.0x): 200 s = 3.3 min on any VM, no band (not scaled)
    assert proj["optuna-threads"][2] == f"1.00× (held, not scaled) · 3.3 min · ${200 / 3600 * 0.2:.2f} unverified price"
    assert "*Assumption:* Projected, not measured." in md
    assert "pass `--price-per-hour X`" in md


def test_price_from_the_run_config_when_no_flag(tmp_path: Path) -> None:
    path = S.write(S.seed_story(), tmp_path / "r", S.meta(price_per_hour=1.0))
    md = markdown(path)
    assert "at $1/h (measured)" in md


def test_custom_catalog_and_its_errors(seed_dir: Path, tmp_path: Path) -> None:
    cat = tmp_path / "prices.toml"
    cat.write_text('[prices]\n[[prices.vm]]\nname = "Big box"\nvcpus = 64\nphysical_cores = 64\n'
                   'price_per_hour = 2.0\ncurrency = "USD"\nkind = "on-demand"\nregion = "here"\n'
                   'as_of = 2026-11-01\nsource = "unverified"\n')
    md = markdown(seed_dir, prices=cat)
    assert "Big box (64 vCPU, 64 physical cores, 2 USD/h on-demand, unverified price)" in md
    assert "D128as_v7" not in md
    bad = tmp_path / "bad.toml"
    bad.write_text('[[vm]]\nname = "x"\nvcpus = 0\nusd_per_hour = 1.0\n')
    with pytest.raises(ConfigError, match="usd_per_hour is now price_per_hour"):
        markdown(seed_dir, prices=bad)


def test_a_scaling_model_can_replace_the_projection(seed_dir: Path) -> None:
    from bench.analysis.cost.projection import OWN_FIT, Estimate

    class Flat:
        name = "fitted USL"
        assumption = "Fitted by a sweep."

        def estimate(self, run: MeasuredCost, vm: Any) -> Estimate | None:
            return Estimate(3.0, 2.0, 4.0, OWN_FIT, vm.vcpus, run.label)

    md = markdown(seed_dir, scaling=Flat())
    assert "### Projected on catalog VMs (fitted USL)" in md
    assert "*Assumption:* Fitted by a sweep." in md
    assert table_rows(section(md, "### Projected on catalog VMs"))["pool"][2].startswith("3.0× (2.0–4.0×)")


def test_report_written_elsewhere_keeps_plots_beside_it(seed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "seed.md"
    assert write_report(seed_dir, out=out) == out
    assert (out.parent / "seed_cpu.png").exists()
    assert "](seed_cpu.png)" in out.read_text()
    assert not (seed_dir / "report.md").exists()


# --- hypotheses -----------------------------------------------------------------------------------
def verdicts(sim: Any, **cfg: Any) -> dict[str, Any]:
    d = analyse(
        Recorded.from_records(S.meta(**cfg), sim.runs, sim.trials, sim.samples, sim.heartbeats)
    )
    return {h.claim: h for h in evaluate(d)}


def test_seed_story_hypotheses() -> None:
    hs = verdicts(S.seed_story())
    backend = hs["The parallel backend serialises long trials / refuses to spawn workers"]
    assert backend.verdict == REFUTED and backend.rows == ("optuna-threads",)
    assert hs["multiprocessing does not work on this machine"].verdict == REFUTED
    assert hs["PyTorch breaks parallelism at this scale"].verdict == REFUTED
    over = hs["Thread oversubscription"]
    assert over.verdict == PROVEN and set(over.rows) == {"pool@unlimited", "pool"}
    assert hs["The GIL"].verdict == PROVEN and hs["The GIL"].rows == ("optuna-threads",)
    assert (
        hs["fork vs spawn matters"].verdict == NOT_TESTED and hs["fork vs spawn matters"].rows == ()
    )


def test_hypotheses_without_their_rows_are_not_tested() -> None:
    sim = S.Sim()
    S.simulate(sim, "sequential")
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True)
    hs = verdicts(sim)
    for claim in (
        "The parallel backend serialises long trials / refuses to spawn workers",
        "Thread oversubscription",
        "The GIL",
        "fork vs spawn matters",
    ):
        assert hs[claim].verdict == NOT_TESTED and hs[claim].rows == ()
        assert hs[claim].evidence.startswith("needs")


def test_fork_vs_spawn_decided_by_the_pair() -> None:
    def pair(spawn_trial_s: float) -> Any:
        sim = S.Sim()
        S.simulate(sim, "sequential")
        S.simulate(sim, "pool/fork", start=20, workers=2, separate_pids=True, start_method="fork")
        S.simulate(
            sim,
            "pool/spawn",
            start=40,
            workers=2,
            separate_pids=True,
            start_method="spawn",
            startup=3.0,
            trial_s=spawn_trial_s,
        )
        return verdicts(sim)["fork vs spawn matters"]

    same = pair(2.0)
    assert same.verdict == REFUTED and same.rows == ("pool/fork", "pool/spawn")
    assert "start-up 0.2 s (fork) vs 3.0 s (spawn)" in same.evidence
    assert pair(3.0).verdict == PROVEN


def test_oversubscription_refuted_when_unlimited_is_as_fast() -> None:
    sim = S.Sim()
    S.simulate(sim, "sequential")
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True)
    S.simulate(
        sim,
        "pool@unlimited",
        start=40,
        workers=2,
        separate_pids=True,
        threads_policy="unlimited",
        threads=None,
    )
    h = verdicts(sim)["Thread oversubscription"]
    assert h.verdict == REFUTED and "100% of `pool`'s rate" in h.evidence


def test_user_objective_does_not_test_pytorch() -> None:
    h = verdicts(S.seed_story(), objective="mod:fn")["PyTorch breaks parallelism at this scale"]
    assert h.verdict == NOT_TESTED and "user function" in h.evidence


# --- notes, links ---------------------------------------------------------------------------------
def test_probe_notes_and_missing_stacks_are_reported(tmp_path: Path) -> None:
    sim = S.seed_story(stacks=False)
    for label in ("optuna-threads", "pool"):
        sim.samples.append(
            {
                "kind": "note",
                "run": label,
                "t": S.T0,
                "probe": "stack",
                "level": "warning",
                "message": "py-spy not permitted to read pid 1000 (ptrace | CAP_SYS_PTRACE)",
            }
        )
    path = S.write(sim, tmp_path / "r", S.meta())
    md = markdown(path)
    notes = section(md, "## Probe notes")
    assert "py-spy not permitted to read pid 1000 (ptrace \\| CAP\\_SYS\\_PTRACE)" in notes
    assert "(runs: `optuna-threads`, `pool`)" in notes
    assert "no stack samples in this results directory" in notes
    assert "GIL inferred from CPU" in md.splitlines()[2]


def test_runbook_links_inside_and_outside_the_repo(tmp_path: Path) -> None:
    root = repo_root()
    assert root is not None and (root / "bench").is_dir()
    inside = root / "reports" / "some-run"
    assert (
        runbook_link("runbooks/GIL_BOUND.md", inside)
        == "[`runbooks/GIL_BOUND.md`](../../runbooks/GIL_BOUND.md)"
    )
    assert runbook_link("runbooks/GIL_BOUND.md", tmp_path) == "`runbooks/GIL_BOUND.md`"


def test_findings_section_lists_actions_and_runbooks(seed_dir: Path) -> None:
    md = markdown(seed_dir)
    findings = section(md, "## Findings")
    assert "### `optuna-threads`" in findings
    assert findings.count("*Next:*") == findings.count("*Runbook:*") == 5
    assert "`runbooks/OVERSUBSCRIBED.md`" in findings


# --- the command ----------------------------------------------------------------------------------
def test_cli_report(seed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.md"
    assert main(["report", str(seed_dir), "--out", str(out), "--price-per-hour", "0.4"]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    assert "at $0.4/h (measured)" in out.read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--price-per-hour", "-1"], "price-per-hour must be a positive number"),
        (["--prices", "/nonexistent/prices.toml"], "does not exist"),
    ],
)
def test_cli_report_bad_input(
    seed_dir: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(seed_dir), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_report_not_a_results_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "not a corebench results directory" in capsys.readouterr().err


# --- recorded real fixtures -----------------------------------------------------------------------
@pytest.mark.parametrize("fixture", REAL, ids=[p.name for p in REAL])
def test_real_fixture_report_tables_match_the_records(fixture: Path, tmp_path: Path) -> None:
    out = write_report(fixture, out=tmp_path / "report.md", price_per_hour=0.2)
    md = out.read_text()
    check_tables(md, fixture, 0.2)
    parts = build(analyse(Recorded.load(fixture)), tmp_path)
    for h in parts.hypotheses:  # every verdict is backed by rows, or says what it needs
        assert h.rows or h.verdict == NOT_TESTED
    assert (tmp_path / "report_cpu.png").exists()


def test_report_of_a_run_stopped_before_any_record(tmp_path: Path) -> None:
    meta = S.meta(plan=["sequential", "pool"])
    path = S.write(S.Sim(), tmp_path / "r", meta)
    md = markdown(path)
    assert "**No run finished:**" in md.splitlines()[2]
    rows = table_rows(section(md, "## Root-cause matrix"))
    assert rows["pool"][1] == "⛔ not run" and rows["pool"][2] == "—"
    assert "- `pool`: not run" in md


def test_throughput_ratios_measured_under_load_decide_nothing() -> None:
    sim = S.seed_story()
    for s in sim.samples:
        if s.get("kind") == "tree" and s["run"] == "pool@unlimited":
            # the run got one core; other processes took the other one meanwhile
            s["cpu_pct_total"], s["per_core"] = 100.0, [100.0, 100.0]
    h = verdicts(sim)["Thread oversubscription"]
    assert h.verdict == INCONCLUSIVE
    assert "`pool@unlimited` ran while other processes held the cores (CONTENDED)" in h.evidence


def test_a_tie_within_run_noise_names_the_simpler_strategy() -> None:
    from bench.report.verdict import best_run, fastest_run, verdict

    sim = S.Sim()
    S.simulate(sim, "sequential", workers=1, trials=4, trial_s=2.0)
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4, trial_s=2.0)
    # 5% faster than pool: inside RUN_NOISE, so the plain pool is named
    S.simulate(sim, "pool/spawn", start=40, workers=2, separate_pids=True, trials=4, trial_s=1.9,
               start_method="spawn")
    d = analyse(Recorded.from_records(S.meta(), sim.runs, sim.trials, sim.samples, sim.heartbeats))
    assert fastest_run(d) == "pool/spawn" and best_run(d) == "pool"
    text = verdict(d)
    assert "**Use `pool`:**" in text and "`pool/spawn` was fastest at" in text

    # 25% faster: a real difference, the faster run is named
    S.simulate(sim, "joblib-loky", start=60, workers=2, separate_pids=True, trials=4, trial_s=1.5)
    d = analyse(Recorded.from_records(S.meta(), sim.runs, sim.trials, sim.samples, sim.heartbeats))
    assert best_run(d) == "joblib-loky"
    assert "**Use `joblib-loky`:**" in verdict(d) and "was fastest at" not in verdict(d)


def test_a_user_objective_report_leaves_the_ga_columns_out() -> None:
    """A run of the user's own objective (recorded fixture) gets the whole report, without the
    GA's evaluations per second and with GA-only hypotheses marked not tested and why."""
    path = FIXTURES / "gil_threads"
    assert json.loads((path / "run.json").read_text())["config"]["objective"]
    md = markdown(path)
    for heading in ("## Root-cause matrix", "## Hypotheses", "## Cost", "## Findings"):
        assert heading in md
    assert "evals/s" not in md and "fitness evaluations" not in md
    torch_row = next(line for line in md.splitlines() if line.startswith("| PyTorch breaks"))
    assert "not tested" in torch_row and "user function" in torch_row
