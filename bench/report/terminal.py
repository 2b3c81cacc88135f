"""Terminal output that suits where it goes: rich tables that follow the terminal, plain text in a pipe.

On a terminal a table takes the terminal's width and rich's colours (NO_COLOR honoured, as rich
reads it); written to a pipe or a file it is plain text: no box drawing, no escape codes, columns
aligned with spaces and never wrapped to a guessed width (COLUMNS, when set, still wins).
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

# Wide enough for every summary table unwrapped; a pipe has no width of its own.
PIPE_WIDTH = 240


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO | None = None) -> Console:
    """A console on `stream` (default: stdout as it is at call time) that suits where it writes."""
    file = stream if stream is not None else sys.stdout
    if _is_tty(file):
        return Console(file=file)
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    return Console(file=file, width=width, color_system=None, highlight=False, emoji=False,
                   force_terminal=False)


def table(con: Console, title: str | None = None, **kw: Any) -> Table:
    """A table styled for `con`: boxed on a terminal, plain aligned columns otherwise."""
    if con.is_terminal:
        return Table(title=title, **kw)
    return Table(title=title, box=None, show_edge=False, title_justify="left",
                 title_style="", header_style="", **kw)


def show(con: Console, renderable: Any) -> None:
    """Print a table; in a pipe without the trailing spaces rich pads every line with."""
    if con.is_terminal:
        con.print(renderable)
        return
    with con.capture() as cap:
        con.print(renderable)
    con.file.write("\n".join(line.rstrip() for line in cap.get().splitlines()) + "\n")
    con.file.flush()
