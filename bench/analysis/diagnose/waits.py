"""Where a live job's Python threads wait, from its stack samples: whether any stack moved between
dumps, and for each thread its innermost frame in the user's code and the library call it is
blocked in (what STALLED reports). Pure functions over recorded stack samples."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class ThreadWaitSite:
    """Where one Python thread sat at the last stack dump: its innermost frame in the user's own
    code and the library call it was blocked in (`Event.wait`, `Queue.get`, `recv`, ...)."""

    pid: int
    thread: str
    state: str
    user_frame: str | None
    blocking_call: str | None


def _frame_file(frame: str) -> str:
    inside = frame.rsplit(" (", 1)[-1].rstrip(")")
    return inside.rsplit(":", 1)[0]


@lru_cache(maxsize=1)
def _library_roots() -> frozenset[str]:
    """Top-level names of the standard library and of what is installed in site-packages: a frame
    in one of them is library code, not the user's (one directory listing per site directory)."""
    import site
    import sysconfig

    names = set(sys.stdlib_module_names)
    dirs = {*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_path("purelib")}
    for d in dirs:
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            if e.endswith((".dist-info", ".egg-info", ".pth")) or e.startswith(("_", ".")):
                continue
            names.add(e.split(".", 1)[0])
    return frozenset(names)


def is_library_frame(frame: str) -> bool:
    """A formatted frame ("func (path/file.py:12)") in the standard library or an installed
    package (by the first part of its short file name)."""
    f = _frame_file(frame)
    head = f.split("/", 1)[0]
    if head.endswith(".py"):
        head = head[:-3]
    return head in _library_roots() or f.startswith("<")


def wait_site(pid: int, thread: dict[str, Any]) -> ThreadWaitSite:
    """The innermost user frame of a stack-sample thread and the library call above it."""
    frames = [str(x) for x in thread.get("frames") or []]
    user = next((i for i, fr in enumerate(frames) if not is_library_frame(fr)), None)
    if user is None:
        call = frames[-1] if frames else None  # the user's frame is deeper than the record kept
        return ThreadWaitSite(pid, str(thread.get("name") or ""), str(thread.get("state") or ""), None, call)
    call = frames[user - 1].split(" (", 1)[0] if user > 0 else "a C call on that line"
    return ThreadWaitSite(pid, str(thread.get("name") or ""), str(thread.get("state") or ""), frames[user], call)


def stack_motion(stacks: Sequence[Mapping[str, Any]]) -> tuple[bool | None, tuple[ThreadWaitSite, ...]]:
    """Whether any thread's frames changed between consecutive dumps of its process (None: no
    process was dumped twice), and the wait site of every thread in each process's last dump."""
    by_pid: dict[int, list[Mapping[str, Any]]] = {}
    for st in sorted(stacks, key=lambda x: float(x.get("t") or 0)):
        by_pid.setdefault(int(st.get("pid") or 0), []).append(st)
    moved: bool | None = None
    for dumps in by_pid.values():
        if len(dumps) < 2:
            continue
        moved = bool(moved)
        for a, b in zip(dumps, dumps[1:], strict=False):
            fa = {t.get("tid"): t.get("frames") for t in a.get("threads") or []}
            fb = {t.get("tid"): t.get("frames") for t in b.get("threads") or []}
            if fa != fb:
                moved = True
    sites = tuple(
        wait_site(pid, t) for pid, dumps in by_pid.items() for t in dumps[-1].get("threads") or []
    )
    return moved, sites
