"""`bench watch -- CMD`: the user's own program under the probes and the trial tracer."""

from __future__ import annotations

from bench.watch.watcher import WatchResult, watch

__all__ = ["WatchResult", "watch"]
