"""The report's header (verdict, machine, software, search, date, command) and footer, from
run.json's recorded fields, each escaped where it is user-controlled."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import __version__
from bench.analysis.diagnose import Diagnosis
from bench.records.schema import RunRow
from bench.report import cells as c
from bench.report import watch
from bench.report.verdict import verdict


def _when(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError):
        return "unknown"


def _gib(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, int) and n else "?"


def _q(d: Mapping[str, Any], key: str, code: bool = False) -> str:
    """A value for the header, escaped (it comes from run.json), "?" when missing."""
    v = d.get(key)
    return c.md("?" if v is None else v, code=code)


def _command(argv: Any) -> str:
    """The command line as a user would type it (`bench ...`, not the module path)."""
    if not isinstance(argv, list) or not argv:
        return str(argv or "")
    head = Path(str(argv[0])).name
    words = ["bench", *argv[1:]] if head in ("bench", "__main__.py") else argv
    return shlex.join(str(x) for x in words)


def header(d: Diagnosis) -> str:
    meta = d.recorded.meta
    m, cfg = d.recorded.machine, d.recorded.config
    git = meta.get("git") or {}
    commit = git.get("commit")
    dirty = {"True": " (dirty: uncommitted changes)", "False": ""}.get(
        str(git.get("dirty")), " (dirty: unknown)"
    )
    versions = m.get("versions") or {}
    shown = ("torch", "optuna", "joblib", "ray", "numpy")
    libs = c.md(", ".join(f"{k} {v}" for k, v in versions.items() if v and k in shown))
    env = m.get("thread_env") or {}
    env_text = c.md(", ".join(f"{k}={v}" for k, v in env.items()) or "none set")
    smt = {"True": "SMT on", "False": "no SMT"}.get(str(m.get("smt")), "SMT unknown")
    cmd = _command(meta.get("command"))
    if cfg.get("objective"):
        workload = f"user objective {_q(cfg, 'objective', code=True)}"
    else:
        workload = (
            f"GA {_q(cfg, 'generations')} generations × {_q(cfg, 'seeds')} seed(s), population "
            f"{_q(cfg, 'population')}, mode {_q(cfg, 'mode', code=True)}"
        )
    title = d.recorded.path.name if d.recorded.path else meta.get("run_id", "")
    lines = [
        f"# corebench report: {c.md(title)}",
        "",
        verdict(d),
        "",
        f"- **Machine:** {_q(m, 'cpu_model')}; {_q(m, 'usable_cores')} usable cores "
        f"({_q(m, 'logical_cores')} logical, {_q(m, 'physical_cores')} physical, {smt}); "
        f"{_gib(m.get('memory_bytes'))}; fingerprint {_q(m, 'id', code=True)}",
        f"- **Software:** Python {_q(m, 'python')}; {libs or 'versions unknown'}; "
        f"torch threads {_q(m, 'torch_threads')}; thread env: {env_text}",
        f"- **Search:** {_q(cfg, 'trials')} trials of {workload}; {_q(cfg, 'workers')} workers, "
        f"threads {_q(cfg, 'threads', code=True)}, start method {_q(cfg, 'start_method', code=True)}, "
        f"sampler {_q(cfg, 'sampler', code=True)}"
        + (f", pruner {_q(cfg, 'pruner', code=True)}" if cfg.get("pruner") not in (None, "none") else "")
        + f" (preset {_q(cfg, 'preset', code=True)}){_params_paths(d.recorded.runs)}",
        f"- **Date:** {_when(meta.get('created'))}; **commit:** "
        + (f"{c.md(str(commit)[:12], code=True)}{dirty}" if commit else "not a git checkout")
        + f"; corebench {_q(meta, 'corebench_version')}",
    ]
    if watch.is_watch(d):
        # A watched program is the user's own: there is no bench search config to show.
        lines = [x for x in lines if not x.startswith("- **Search:**")]
    if cmd:
        lines.append(f"- **Command:** {c.md(cmd, code=True, limit=2000)}")
    return "\n".join(lines)


_PATHS = {
    "declared": "sampled in the parent from the declared search space (no round trip per param)",
    "define-by-run": "define-by-run, each suggest_* decided by the parent's study (its sampler, its pruner)",
}


def _params_paths(runs: Mapping[str, RunRow]) -> str:
    """Which way each run's parameters were chosen (runs recorded before this field: nothing)."""
    by_path: dict[str, list[str]] = {}
    for label, rec in runs.items():
        if rec.get("params_path") and rec.get("status") != "unavailable":
            by_path.setdefault(str(rec["params_path"]), []).append(label)
    if not by_path:
        return ""
    if len(by_path) == 1:
        return f"; parameters {_PATHS.get(next(iter(by_path)), next(iter(by_path)))}"
    parts = [f"{_PATHS.get(k, k)}: " + ", ".join(f"`{x}`" for x in v) for k, v in by_path.items()]
    return "; parameters " + "; ".join(parts)


def footer(d: Diagnosis) -> str:
    src = d.recorded.path
    return f"---\nGenerated by corebench {__version__} from saved results only" + (
        f"; regenerate with {c.md(f'bench report {src}', code=True, limit=2000)}." if src else "."
    )
