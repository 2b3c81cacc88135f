"""The trial tracer `bench watch` puts inside the user's program, and how to read what it wrote.

`site/` is the directory prepended to the program's PYTHONPATH: its `sitecustomize` arms an import
hook that, once `optuna` is imported, records every trial (see `site/_corebench_trace.py`). That
code imports nothing from corebench, so it runs in any environment the user's program has.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent / "site"
ENV_DIR = "COREBENCH_TRACE_DIR"  # where the tracer writes; without it the hook does nothing
ENV_RUN = "COREBENCH_TRACE_RUN"  # the run label its trial records carry
TRACE_FILE = "trace.jsonl"  # hook status and ask events, one line each


def traced_env(base: Mapping[str, str], out_dir: Path, run: str) -> dict[str, str]:
    """`base` with the tracer's directory first on PYTHONPATH and the variables it reads."""
    env = dict(base)
    rest = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(SITE_DIR) + (os.pathsep + rest if rest else "")
    env[ENV_DIR] = str(out_dir.resolve())
    env[ENV_RUN] = run
    return env
