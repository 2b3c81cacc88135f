"""Marks the integration tests share."""

from __future__ import annotations

import pytest

from probes.pyspy import find_py_spy

needs_py_spy = pytest.mark.skipif(find_py_spy() is None, reason="py-spy is not installed")
