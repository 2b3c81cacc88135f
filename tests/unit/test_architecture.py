"""The import rules ARCHITECTURE.md states, checked on the source: data flows one way
(cli → run → strategies/probes → records → analysis → report), probes import nothing of bench,
and no module imports itself back through another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Package -> the bench packages its modules may import at module level or lazily. `errors` is open
# to all; `probes` is the one outside dependency every stage may use.
ALLOWED: dict[str, set[str]] = {
    "probes": set(),
    "records": {"probes"},  # the one JSONL appender lives in probes (probes import no bench)
    "workload": {"trial"},
    "trial": {"workload"},
    "config": {"probes", "strategies", "workload"},
    "strategies": {"config", "probes", "records", "trial", "workload"},
    "run": {"config", "probes", "records", "strategies", "trial", "workload"},
    "analysis": {"config", "probes", "records", "strategies", "workload"},
    "report": {"analysis", "config", "probes", "records", "trial"},
    "watch": {"analysis", "probes", "records", "report", "run", "trial"},
    "cli": {"analysis", "config", "probes", "records", "report", "run", "strategies", "trial", "watch",
            "workload"},
}
OPEN = {"errors", "bench", "__version__"}  # bench.errors, and `from bench import __version__`


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "probes":
        return "probes"
    if parts[0] != "bench":
        return None
    return parts[1] if len(parts) > 1 else "bench"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            if node.module == "bench":
                found |= {f"bench.{a.name}" for a in node.names}
    return found


def _modules() -> list[Path]:
    return sorted([*(ROOT / "bench").rglob("*.py"), *(ROOT / "probes").rglob("*.py")])


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    rel = path.relative_to(ROOT).with_suffix("")
    me = _package(".".join(rel.parts))
    if me not in ALLOWED:
        return  # bench/__init__.py, bench/__main__.py, bench/errors.py
    wrong = sorted(
        m for m in _imports(path)
        if (p := _package(m)) is not None and p != me and p not in OPEN and p not in ALLOWED[me]
    )
    assert not wrong, f"{rel}: {me} may not import {wrong} (see ARCHITECTURE.md)"


def test_the_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from bench.report import markdown\nimport bench.run.runner\n")
    assert {"bench.report", "bench.run.runner"} <= _imports(bad)
    assert "report" not in ALLOWED["analysis"] and "run" not in ALLOWED["report"]


def test_every_package_is_described_in_architecture_md() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    packages = {p.name for p in (ROOT / "bench").iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(p for p in packages | {"probes"} if f"`bench/{p}/`" not in text and f"`{p}/`" not in text)
    assert not missing, f"ARCHITECTURE.md does not describe {missing}"
    assert set(ALLOWED) - {"probes"} <= packages
