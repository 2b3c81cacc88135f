"""corebench: run one search under every parallel strategy and say, from evidence, why cores sit idle."""

from __future__ import annotations

__version__ = "0.1.0"
