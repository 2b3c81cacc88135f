"""corebench's trial tracer, loaded by every Python process `bench watch` starts (its directory is
prepended to PYTHONPATH). It arms an import hook that traces Optuna trials once `optuna` is
imported, then runs the `sitecustomize` this one shadows, as Python would have.

It must never change what the program does: everything here is standard library, imported
already at start-up; nothing raises; without COREBENCH_TRACE_DIR it does nothing at all.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _arm() -> None:
    if not os.environ.get("COREBENCH_TRACE_DIR"):
        return
    try:
        import _corebench_trace

        _corebench_trace.arm()
    except Exception:
        pass  # the program runs exactly as it would without bench


def _chain() -> None:
    """Run the next `sitecustomize` on sys.path (the user's or the distribution's), with the
    error message site.py prints for a failing one."""
    import importlib.machinery
    import importlib.util

    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    # The shadowed module takes our place, as if it had been imported directly.
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write(
                "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                f"{err.__class__.__name__}: {err}\n"
            )


_arm()
# The program sees the sys.path it would see without bench (children still inherit PYTHONPATH).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
_chain()
