"""Links from a report to the repository's runbooks, valid wherever the report is opened from."""

from __future__ import annotations

import os
from pathlib import Path

import bench


def repo_root() -> Path | None:
    """The checkout corebench runs from (None when installed without one)."""
    root = Path(bench.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "bench").is_dir() else None


def runbook_link(runbook: str, report_dir: Path, root: Path | None = None) -> str:
    """`[runbooks/X.md](relative/path)` when the report lies inside the repository, else the
    stable name alone (a relative link out of a copied results directory would point nowhere)."""
    root = repo_root() if root is None else root
    name = f"`{runbook}`"
    if root is None:
        return name
    report_dir = report_dir.resolve()
    try:
        report_dir.relative_to(root.resolve())
    except ValueError:
        return name
    rel = os.path.relpath(root.resolve() / runbook, report_dir)
    return f"[{name}]({Path(rel).as_posix()})"
