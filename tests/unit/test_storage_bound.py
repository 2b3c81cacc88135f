"""Storage time per trial: the timing wrapper at the storage boundary, the share a run summary
derives from the records, the STORAGE_BOUND rule (on a recorded real run whose workers share a
journal file with no-op trials, and on the recorded runs of other kinds, which must not fire it),
its sweep rule, and the matrix column."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import optuna
import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.findings import storage_bound as sb
from bench.analysis.summary import summarize
from bench.report import matrix
from bench.strategies import _storage_time as st
from bench.strategies._study import open_storage
from tests.support import synthetic as S

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

OTHER_FIXTURES = sorted(p.parent.name for p in FIXTURES.glob("*/fixture.json")
                        if p.parent.name != "storage_journal")


# --- the timing wrapper -------------------------------------------------------------------------
# RDB storages (SQLite, PostgreSQL) are timed through the same wrapper: their records' storage_s
# is checked in tests/integration/test_shared_storage.py (creating their tables takes seconds).
@pytest.mark.parametrize("kind", ["memory", "journal"])
def test_a_timed_storage_runs_a_study_and_counts_this_threads_calls(kind: str, tmp_path: Path) -> None:
    where = {"memory": None, "journal": str(tmp_path / "j.log")}[kind]
    storage = open_storage(where)
    assert isinstance(storage, optuna.storages.BaseStorage)
    assert st.timed(storage) is storage  # never wrapped twice
    study = optuna.create_study(storage=storage)
    other: list[float] = []
    before = st.seconds()
    t = threading.Thread(target=lambda: other.append(st.seconds()))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    t.start()
    t.join()
    spent = st.seconds() - before
    assert len(study.trials) == 3 and study.best_value is not None
    assert spent > 0
    assert other == [0.0]  # another thread's counter is its own


def test_timed_seconds_never_exceed_the_wall_of_the_calls(tmp_path: Path) -> None:
    import time

    storage = open_storage(str(tmp_path / "j.log"))
    study = optuna.create_study(storage=storage)
    before, wall0 = st.seconds(), time.perf_counter()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5)
    # Nested storage calls are counted once: the sum fits inside the wall it was measured in.
    assert 0 < st.seconds() - before <= time.perf_counter() - wall0


@pytest.mark.parametrize(("given", "name"), [
    (None, "in-memory"), ("", "in-memory"), ("/data/study.journal", "journal file"),
    ("sqlite:////tmp/s.db", "sqlite"), ("postgresql://u:secret@db:5432/optuna", "postgresql"),
    ("postgresql+psycopg://u:secret@db/optuna", "postgresql"), ("mysql+pymysql://u@db/o", "mysql"),
])
def test_backend_name_never_carries_the_url(given: str | None, name: str) -> None:
    assert st.backend_name(given) == name


# --- the share a summary derives ------------------------------------------------------------------
def _runs(callers: int, storage: str = "sqlite", in_workers: bool = True) -> list[dict[str, Any]]:
    return [{"run": "optuna-journal", "strategy": "optuna-journal", "status": "ok", "workers": callers,
             "start": 0.0, "wall": 12.0, "storage": storage, "storage_callers": callers,
             "storage_in_workers": in_workers, "kind": "processes"}]


def _trials(n: int, storage_s: float | None, span: float = 10.0) -> list[dict[str, Any]]:
    step = span / n
    return [{"run": "optuna-journal", "number": i, "state": "complete", "value": 0.0, "pid": 100 + i % 2,
             "start": 1.0 + i * step, "end": 1.0 + (i + 1) * step, "storage_s": storage_s}
            for i in range(n)]


def test_storage_share_is_of_the_callers_time_over_the_trials() -> None:
    (row,) = summarize(_runs(callers=2), _trials(10, 0.6))
    # 10 trials x 0.6 s over 2 callers x 10 s of trials.
    assert row.storage_s == pytest.approx(6.0)
    assert row.storage_share == pytest.approx(0.3)
    assert row.storage_per_trial == pytest.approx(0.6)
    (untimed,) = summarize(_runs(callers=2), _trials(10, None))
    assert untimed.storage_share is None and untimed.storage_trials == 0


# --- the rule on recorded runs ------------------------------------------------------------------
def test_storage_bound_on_workers_sharing_a_journal_file() -> None:
    d = analyse(Recorded.load(FIXTURES / "storage_journal"))
    (f,) = [f for f in d.findings["optuna-journal"] if f.code == F.STORAGE_BOUND]
    assert f.evidence["storage"] == "journal file"
    assert f.evidence["storage_share"] >= sb.STORAGE_SHARE_MIN
    assert f.evidence["trials_timed"] == 40
    assert "RDB" in f.action or "postgresql" in f.action
    assert f.runbook == "runbooks/STORAGE_BOUND.md"
    assert F.HEALTHY not in {x.code for x in d.findings["optuna-journal"]}
    # The in-memory study of the same search, asked and told by pool's parent, is no limit.
    for label in ("pool", "sequential"):
        s = d.recorded.summaries[label]
        assert s.storage == "in-memory" and s.storage_share is not None
        assert s.storage_share < sb.STORAGE_SHARE_MIN
        assert F.STORAGE_BOUND not in {x.code for x in d.findings[label]}


@pytest.mark.parametrize("name", OTHER_FIXTURES)
def test_runs_of_other_kinds_are_not_storage_bound(name: str) -> None:
    d = analyse(Recorded.load(FIXTURES / name))
    assert all(f.code != F.STORAGE_BOUND for fs in d.findings.values() for f in fs)


def test_matrix_shows_backend_share_and_time_per_trial() -> None:
    rows = {r.label: r for r in matrix.rows(analyse(Recorded.load(FIXTURES / "storage_journal")))}
    text = matrix.render(list(rows.values()))
    assert "journal file · " in text and "in-memory · " in text
    assert rows["optuna-journal"].storage_share is not None
    assert rows["optuna-journal"].storage_share > rows["pool"].storage_share  # type: ignore[operator]


# --- thresholds and advice ----------------------------------------------------------------------
def _rule_on(callers: int, n: int, storage_s: float, storage: str = "sqlite") -> Any:
    rec = Recorded.from_records(S.meta(plan=["optuna-journal"], trials=n), _runs(callers, storage),
                                _trials(n, storage_s))
    return [f for f in analyse(rec).findings["optuna-journal"] if f.code == F.STORAGE_BOUND]


def test_rule_fires_from_the_share_and_needs_enough_trials() -> None:
    # n trials of storage_s each over 2 callers x 10 s: share = n * storage_s / 20.
    (error,) = _rule_on(callers=2, n=10, storage_s=1.2)  # 60%
    assert error.severity == F.ERROR and error.evidence["storage_share"] == pytest.approx(0.6)
    (warning,) = _rule_on(callers=2, n=10, storage_s=0.8)  # 40%
    assert warning.severity == F.WARNING
    assert not _rule_on(callers=2, n=10, storage_s=0.4)  # 20%
    assert not _rule_on(callers=1, n=sb.STORAGE_MIN_TRIALS - 1, storage_s=2.0)


@pytest.mark.parametrize(("backend", "fix"), [
    ("journal file", "postgresql"), ("sqlite", "PostgreSQL"), ("postgresql", "gRPC storage proxy"),
])
def test_advice_names_the_next_storage(backend: str, fix: str) -> None:
    (f,) = _rule_on(callers=2, n=10, storage_s=1.0, storage=backend)
    assert fix in f.action and "fewer, longer trials" in f.action


# --- the sweep rule -----------------------------------------------------------------------------
def _points(per_ms: list[float], shares: list[float]) -> list[sb.SweepPoint]:
    return [sb.SweepPoint(w, ms / 1000, share) for w, ms, share in zip((1, 2, 4, 8), per_ms, shares, strict=True)]


def test_sweep_rule_fires_when_storage_time_grows_with_workers() -> None:
    f = sb.sweep_rule("optuna-journal", "postgresql", _points([4, 5, 9, 20], [0.1, 0.2, 0.35, 0.6]))
    assert f is not None and f.code == F.STORAGE_BOUND
    assert f.evidence["growth"] == pytest.approx(5.0)
    assert f.evidence["limit_from_workers"] == 4
    assert f.severity == F.ERROR
    assert "gRPC" in f.action


def test_sweep_rule_quiet_when_flat_or_negligible() -> None:
    assert sb.sweep_rule("j", "postgresql", _points([4, 4.2, 4.1, 4.5], [0.1, 0.2, 0.3, 0.4])) is None
    assert sb.sweep_rule("j", "postgresql", _points([0.1, 0.2, 0.4, 0.9], [0.0, 0.01, 0.02, 0.05])) is None
    assert sb.sweep_rule("j", "postgresql", [sb.SweepPoint(1, None, None), sb.SweepPoint(2, 0.01, 0.5)]) is None


def test_a_sweep_document_carries_the_storage_figures_and_finding() -> None:
    from bench.analysis.scaling import document

    runs = [{"workers": w, "status": "ok", "throughput": 5.0, "storage": "postgresql",
             "storage_per_trial_s": ms / 1000, "storage_share": share}
            for w, ms, share in ((1, 190, 0.99), (2, 400, 0.99), (4, 1200, 0.98), (8, 1900, 0.99))]
    (f,) = document.sweep_findings("optuna-journal", {"runs": runs})
    assert f.code == F.STORAGE_BOUND and f.run == "optuna-journal"
    assert f.evidence["storage"] == "postgresql" and f.evidence["limit_from_workers"] == 1
    assert [p["workers"] for p in f.evidence["points"]] == [1, 2, 4, 8]
    assert document.sweep_findings("pool", {"runs": [{**r, "storage_per_trial_s": 0.0001} for r in runs]}) == []
