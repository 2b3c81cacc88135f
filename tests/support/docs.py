"""The fenced code blocks and prose of the project's markdown (runbooks and README), for the tests
that check their links and run their `runnable` blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"


def docs() -> list[Path]:
    """The markdown files whose code blocks are checked and run: runbooks/*.md and README.md."""
    return sorted(RUNBOOKS.glob("*.md")) + [ROOT / "README.md"]


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its info string words, its text."""

    path: Path
    line: int
    info: tuple[str, ...]
    text: str

    @property
    def lang(self) -> str:
        return self.info[0] if self.info else ""

    @property
    def runnable(self) -> bool:
        return "runnable" in self.info[1:]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


_FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*)$")


def split_markdown(path: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced code blocks of a markdown file, and its other lines (number, text)."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    fence: str | None = None
    start = 0
    info: tuple[str, ...] = ()
    body: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence, start, info, body = m.group(1), n, tuple(m.group(2).split()), []
            else:
                prose.append((n, line))
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2):
            blocks.append(Block(path, start, info, "\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"{path.relative_to(ROOT)}:{start}: code block never closed"
    return blocks, prose


def all_blocks() -> list[Block]:
    return [b for p in docs() for b in split_markdown(p)[0]]
