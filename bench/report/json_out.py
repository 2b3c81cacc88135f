"""The machine-readable twin of the report: one versioned JSON document per command.

Every `--json` output and every `findings.json` is one document of the schema in
`bench/data/results.schema.json` (its `schema_version` is `SCHEMA_VERSION` here). It is built
from the same analysis objects the markdown report renders (matrix rows, findings, hypotheses,
cost rows, gate checks), never from the markdown. Cost rows are serialised generically from their
dataclasses, so a new column there needs no change here.

    results_document(results_dir, command)   analyse a results directory -> document
    parts_document(parts, command)           from an already built ReportParts
    write_json(doc, dest)                    dest a path or "-" (stdout); strict JSON
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.errors import ConfigError

if TYPE_CHECKING:
    from bench.analysis.diagnose import Diagnosis, Finding
    from bench.analysis.gate import Check
    from bench.report.markdown import ReportParts
    from bench.report.matrix import MatrixRow

SCHEMA_NAME = "corebench-results"
SCHEMA_VERSION = 1
SCHEMA_FILE = "data/results.schema.json"
FINDINGS_FILE = "findings.json"


def schema() -> dict[str, Any]:
    """The JSON Schema every document validates against (shipped with the package)."""
    loaded: dict[str, Any] = json.loads(resources.files("bench").joinpath(SCHEMA_FILE).read_text())
    return loaded


def plain(value: Any) -> Any:
    """JSON-safe copy: dataclasses to dicts, tuples/sets to lists, paths to strings, and
    non-finite floats to null (NaN is not JSON, and a consumer's parser may reject it)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return str(value)


def envelope(command: str, results_dir: str | Path | None, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields every document carries: what wrote it, from which results, on which machine."""
    meta = meta or {}
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "corebench_version": __version__,
        "results_dir": None if results_dir is None else str(results_dir),
        "machine": plain(meta.get("machine") or {}),
        "git": plain(meta.get("git") or {}),
        "config": plain(meta.get("config") or {}),
        "verdict": None,
        "verdict_line": None,
        "runs": [],
        "findings": [],
        "hypotheses": [],
        "cost": {"measured": [], "projected": [], "assumption": None},
    }


def finding_dict(f: Finding | Mapping[str, Any]) -> dict[str, Any]:
    d = plain(f) if not isinstance(f, Mapping) else plain(dict(f))
    return {k: d.get(k) for k in ("code", "severity", "run", "evidence", "explanation", "action", "runbook")}


def run_row(row: MatrixRow) -> dict[str, Any]:
    """A matrix row with its findings as codes (the findings themselves are listed apart)."""
    d: dict[str, Any] = plain(row)
    d["findings"] = [f.code for f in row.findings]
    return d


def diagnosis_document(d: Diagnosis, command: str) -> dict[str, Any]:
    """Matrix rows, findings, hypotheses and the verdict of a diagnosed results directory."""
    from bench.report import hypotheses, matrix
    from bench.report.oneline import verdict_line
    from bench.report.verdict import verdict

    rec = d.recorded
    doc = envelope(command, rec.path, rec.meta)
    doc["verdict"] = verdict(d)
    doc["verdict_line"] = verdict_line(d)
    doc["runs"] = [run_row(r) for r in matrix.rows(d)]
    doc["findings"] = [finding_dict(f) for f in d.all_findings()]
    doc["hypotheses"] = [plain(h) for h in hypotheses.evaluate(d)]
    return doc


def parts_document(parts: ReportParts, command: str) -> dict[str, Any]:
    """The report's own figures (ReportParts) as a document: everything report.md shows."""
    doc = diagnosis_document(parts.diagnosis, command)
    doc["runs"] = [run_row(r) for r in parts.matrix]
    doc["hypotheses"] = [plain(h) for h in parts.hypotheses]
    doc["cost"] = {
        "measured": [plain(m) for m in parts.measured],
        "projected": [plain(p) for p in parts.projected],
        "assumption": str(getattr(parts.model, "assumption", "")) or None,
        "price_per_hour": parts.price_per_hour,
        "catalog_source": parts.catalog_source,
    }
    doc["report"] = str(parts.report_dir / "report.md")
    return doc


def results_document(
    results_dir: str | Path,
    command: str,
    price_per_hour: float | None = None,
    prices: str | Path | None = None,
    sweep: str | Path | None = None,
) -> dict[str, Any]:
    """Analyse a saved results directory and return its document (no file is written)."""
    from bench.analysis.diagnose import Recorded, analyse
    from bench.report import build

    d = analyse(Recorded.load(results_dir))
    doc = parts_document(build(d, Path(results_dir), price_per_hour, prices, None, sweep), command)
    if not Path(doc["report"]).is_file():  # --no-report: name no file that is not there
        del doc["report"]
    return doc


def gate_section(checks: list[Check], rules_source: str, baseline: str | None) -> dict[str, Any]:
    from bench.analysis.gate import passed as gate_passed

    return {
        "passed": gate_passed(checks),
        "rules": rules_source,
        "baseline": baseline,
        "checks": [plain(c) for c in checks],
    }


def write_findings(parts: ReportParts, report: Path, command: str = "report") -> Path:
    """findings.json beside the markdown report `report`: its document, written atomically."""
    path = report.parent / FINDINGS_FILE
    doc = parts_document(parts, command)
    doc["report"] = str(report)
    _write_atomic(path, doc)
    return path


def read_document(path: Path) -> dict[str, Any]:
    """A document this module wrote (findings.json); a missing or bad one is a ResultsError."""
    from bench.errors import ResultsError

    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from None
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path} has schema version {doc.get('schema_version')}, this corebench "
                           f"writes {SCHEMA_VERSION}: regenerate it with `bench report`")
    return doc


def emit_findings(report_out: str | Path, command: str, dest: str | None) -> None:
    """Send the findings.json a report just wrote (beside `report_out`, a report file or its
    directory) to `dest`, as `command`'s document."""
    if dest is None:
        return
    p = Path(report_out)
    doc = read_document((p if p.is_dir() else p.parent) / FINDINGS_FILE)
    doc["command"] = command
    write_json(doc, dest)


def _dumps(doc: Mapping[str, Any]) -> str:
    # allow_nan=False: plain() already turned NaN/inf into null; a leftover one is a bug here.
    return json.dumps(plain(doc), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _write_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    text = _dumps(doc)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_dest(dest: str | None) -> None:
    """Fail before any work when a --json path cannot be written (its folder is missing)."""
    if dest is None or dest == "-":
        return
    parent = Path(dest).expanduser().resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"--json {dest}: directory {parent} does not exist")
    if Path(dest).is_dir():
        raise ConfigError(f"--json {dest} is a directory; give a file name")


def write_json(doc: Mapping[str, Any], dest: str | None) -> None:
    """Write `doc` to `dest` ("-" = stdout); None writes nothing."""
    if dest is None:
        return
    if dest == "-":
        sys.stdout.write(_dumps(doc))
        sys.stdout.flush()
        return
    try:
        _write_atomic(Path(dest).expanduser(), doc)
    except OSError as exc:
        raise ConfigError(f"cannot write --json {dest}: {exc.strerror or exc}") from None
