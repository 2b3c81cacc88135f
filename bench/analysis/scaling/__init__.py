"""Scaling models fitted to a worker sweep (`models`) and the sweep file they are fitted from
(`sweep`); the names below are the package's public API."""

from __future__ import annotations

from bench.analysis.scaling.models import *  # noqa: F403
