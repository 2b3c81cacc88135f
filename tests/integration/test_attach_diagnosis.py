"""`bench attach` on one real job of each kind (tests/fixtures/live_cases.py): the finding the job
shows, none of the wrong ones, a verdict printed first, and report.md written, within the default
10 s watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.live_cases import CASES, LiveCase
from tests.scripts.cgroups import NoCgroup
from tests.support.live import run_case
from tests.support.marks import needs_py_spy

pytestmark = [
    pytest.mark.slow,
    needs_py_spy,
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_attach_names_the_job_s_problem(case: LiveCase, tmp_path: Path) -> None:
    try:
        meta = run_case(case, tmp_path / "attach")
    except NoCgroup as exc:
        pytest.skip(str(exc))
    codes = [f["code"] for f in meta["findings"]]
    for code in case.expect:
        assert code in codes, f"{case.name}: expected {code}, got {codes}\n{meta['printed']}"
    wrong = [c for c in codes if c in case.forbid]
    assert not wrong, f"{case.name}: must not show {wrong}\n{meta['printed']}"
    assert meta["duration"] <= 15
    printed = meta["printed"]
    # the verdict comes before the summary table, naming the finding
    assert printed.index("Verdict: ") < printed.index("attach summary")
    assert case.expect[0] in printed.split("Verdict: ", 1)[1].splitlines()[0]
    report = (tmp_path / "attach" / "report.md").read_text()
    assert f"**{case.expect[0]}**" in report and "## Findings" in report
    assert f"runbooks/{case.expect[0]}.md" in report
    assert (tmp_path / "attach" / "report_cpu.png").is_file()
    assert (tmp_path / "attach" / "report_threads.png").is_file()
