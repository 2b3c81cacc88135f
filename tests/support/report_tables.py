"""Reading a rendered report back: its sections, its table rows, and how seconds and dollars read
in a cell (written here independently of bench.report.cells, so a test can catch it)."""

from __future__ import annotations


def section(md: str, heading: str) -> str:
    """From `heading` to the next heading of the same or a higher level."""
    start = md.index(heading)
    level = heading.split()[0]
    ends = [md.find(f"\n{'#' * n} ", start + len(heading)) for n in range(1, len(level) + 1)]
    ends = [e for e in ends if e > 0]
    return md[start : min(ends) if ends else None]


def table_rows(text: str) -> dict[str, list[str]]:
    """First column (without backticks) -> cells, for every body row of the tables in `text`."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows

def seconds_cell(v: float) -> str:
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min" if v < 7200 else f"{v / 3600:.1f} h"


def usd_cell(v: float) -> str:
    return f"${v:.4f}" if v < 0.01 else f"${v:.2f}" if v < 100 else f"${v:,.0f}"
