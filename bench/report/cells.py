"""How figures read in a markdown table cell: units, marks (✅ ⚠️ ❌) and escaping.

`md` is the one escaping function for text that comes from a results directory or the user
(a directory name, a command line, a run's reason, a probe's note, machine facts, finding
evidence): report.md and gate.md put such text nowhere else. Run labels and the other token
fields (status, kind, strategy, state) are checked against bench.records.schema.TOKEN when
loaded, so they hold no character markdown or HTML reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bench.analysis.diagnose import findings as F

GOOD, WARN, BAD, INFO, STOP = "✅", "⚠️", "❌", "ℹ️", "⛔"
SEVERITY_MARK = {F.ERROR: BAD, F.WARNING: WARN, F.INFO: INFO, F.OK: GOOD}
NA = "—"


# Free text in a report is cut here: a 50 MB note or reason must not become a 50 MB report.
TEXT_LIMIT = 300
# Characters markdown (CommonMark + GitHub) reads as markup mid-line, and HTML's three.
_MARKUP = re.compile(r"[\\`*_\[\]~|]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_PIPE = re.compile(r"(?<!\\)\|")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def md(value: object, *, code: bool = False, limit: int = TEXT_LIMIT) -> str:
    """`value` as inline markdown that shows exactly its text: on one line, at most `limit`
    characters (cut with "…"), no markup or HTML taking effect. `code=True` makes it a code
    span (a fence longer than any backtick run inside, so the text cannot close it; HTML is
    not read inside one; `table` escapes its pipes)."""
    text = _CONTROL.sub(" ", str(value))
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    if code:
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
        return f"{fence}{pad}{text}{pad}{fence}"
    text = _MARKUP.sub(lambda m: "\\" + m.group(0), text)
    return "".join(_HTML.get(ch, ch) for ch in text)


def esc(text: object) -> str:
    """Text safe inside a table cell: no pipe splits the row, no newline ends it."""
    # A pipe `md` already escaped keeps its one backslash.
    return _PIPE.sub(r"\\|", str(text)).replace("\r", " ").replace("\n", " ")


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
