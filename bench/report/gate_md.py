"""gate.md: the gate's checks as a markdown table (the rules themselves are bench.analysis.gate)."""

from __future__ import annotations

from bench.analysis.gate import NOTHING_CHECKED, Check, passed
from bench.report.cells import esc, md


def render_markdown(checks: list[Check], title: str) -> str:
    """gate.md; `title` is already markdown (its paths escaped by the caller)."""
    failed = [c for c in checks if not c.passed]
    verdict = "✅ pass" if passed(checks) else "❌ nothing checked" if not checks else "❌ regression"
    lines = [f"## corebench gate: {verdict}", "", title, "",
             "| run | rule | measured | limit | result |", "|---|---|---|---|---|"]
    for c in checks:
        # The run label may come from the rule file's table names: escaped. Rule names, figures
        # and limits are corebench's own text.
        cells = (md(c.run), c.rule, c.measured, c.limit, "✅" if c.passed else "❌")
        lines.append("| " + " | ".join(esc(x) for x in cells) + " |")
    lines.append("")
    lines.append(f"{len(checks) - len(failed)} of {len(checks)} checks passed.")
    if not checks:
        lines.append(f"Failed: {NOTHING_CHECKED}.")
    if failed:
        lines.append("Reproduce with `bench compare` and read the report's findings; "
                     "runbooks/gate-failed.md says what each rule means.")
    return "\n".join(lines) + "\n"
