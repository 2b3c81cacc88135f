"""How figures read in a markdown table cell: units, marks (✅ ⚠️ ❌) and escaping."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.diagnose import findings as F

GOOD, WARN, BAD, INFO, STOP = "✅", "⚠️", "❌", "ℹ️", "⛔"
SEVERITY_MARK = {F.ERROR: BAD, F.WARNING: WARN, F.INFO: INFO, F.OK: GOOD}
NA = "—"


def esc(text: object) -> str:
    """Text safe inside a table cell: no pipe splits the row, no newline ends it."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def pct(v: float | None, digits: int = 0) -> str:
    return NA if v is None else f"{v:.{digits}%}"


def times(v: float | None) -> str:
    return NA if v is None else f"{v:.2f}×"


def seconds(v: float | None) -> str:
    """12.3 s, 4.2 min, 1.5 h: the unit a reader takes in at a glance."""
    if v is None:
        return NA
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def usd(v: float | None) -> str:
    if v is None:
        return NA
    return f"${v:.4f}" if v < 0.01 else f"${v:.2f}" if v < 100 else f"${v:,.0f}"


def num(v: float | None, digits: int = 1) -> str:
    return NA if v is None else f"{v:.{digits}f}"


def mark(value: float | None, good: float, bad: float) -> str:
    """✅ at or above `good`, ❌ below `bad`, ⚠️ between; nothing without a value."""
    if value is None:
        return ""
    return GOOD if value >= good else BAD if value < bad else WARN


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A GitHub markdown table; `right` lists the columns to right-align."""
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(esc(c) if c else " " for c in row) + " |" for row in rows]
    return "\n".join(lines)
