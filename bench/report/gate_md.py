"""gate.md: the gate's checks as a markdown table (the rules themselves are bench.analysis.gate)."""

from __future__ import annotations

from bench.analysis.gate import ALL_INCONCLUSIVE, NOTHING_CHECKED, Check, verdict
from bench.report.cells import esc, md


def render_markdown(checks: list[Check], title: str) -> str:
    """gate.md; `title` is already markdown (its paths escaped by the caller)."""
    failed = [c for c in checks if c.failed]
    doubtful = [c for c in checks if c.inconclusive]
    outcome = verdict(checks)
    heading = {"pass": "✅ pass", "regression": "❌ regression", "nothing checked": "❌ nothing checked",
               "inconclusive": "❌ inconclusive"}[outcome]
    if outcome == "pass" and doubtful:
        heading += f" (⚠️ {len(doubtful)} inconclusive)"
    lines = [f"## corebench gate: {heading}", "", title, "",
             "| run | rule | measured | limit | result |", "|---|---|---|---|---|"]
    for c in checks:
        # The run label may come from the rule file's table names: escaped. Rule names, figures
        # and limits are corebench's own text.
        mark = "⚠️ inconclusive" if c.inconclusive else "✅" if c.passed else "❌"
        cells = (md(c.run), c.rule, c.measured, c.limit, mark)
        lines.append("| " + " | ".join(esc(x) for x in cells) + " |")
    lines.append("")
    passed = sum(c.result == "pass" for c in checks)
    lines.append(f"{passed} of {len(checks)} checks passed"
                 + (f", {len(doubtful)} inconclusive." if doubtful else "."))
    for reason in dict.fromkeys(c.inconclusive for c in doubtful):
        lines.append(f"Inconclusive: {esc(reason)}.")
    if not checks:
        lines.append(f"Failed: {NOTHING_CHECKED}.")
    elif outcome == "inconclusive":
        lines.append(f"Failed: {ALL_INCONCLUSIVE}.")
    if failed:
        lines.append("Reproduce with `bench compare` and read the report's findings; "
                     "runbooks/gate-failed.md says what each rule means.")
    return "\n".join(lines) + "\n"
