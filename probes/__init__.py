"""Probes that watch any process tree: processes, threads, CPU per core, Python stacks.

This package never imports `bench`, so it can be pointed at a process corebench did not start.
"""

from __future__ import annotations
