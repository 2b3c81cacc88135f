"""Runbooks cannot rot: every finding has its runbook, every relative link and anchor resolves,
every `bench` command in a code block parses with the real CLI, every gate table is valid, and
every limit a runbook quotes (`NAME = value`) matches the code.

The fenced-block reader here is also used by tests/integration/test_runbooks.py, which runs the
blocks marked `bash runnable` / `python runnable`.
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.analysis.diagnose import CODES, runbook_for, thresholds
from bench.analysis.gate import parse_rules
from bench.cli import COMMANDS, build_parser
from bench.config import CONFIG_KEYS, FOREIGN_TABLES, Config
from bench.config.labels import parse as parse_run
from bench.errors import BenchError
from bench.report import hypotheses as report_hypotheses
from bench.report import matrix as report_matrix
from tests.support.docs import Block, all_blocks, docs, split_markdown

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
# Links to files that are committed later than the runbooks (issue #8: the reference report comes
# from a real run). Skipped, with the reason, while absent; checked like any link once present.
PENDING: set[Path] = set()


# --- finding codes ---------------------------------------------------------------------------
@pytest.mark.parametrize("code", sorted(CODES))
def test_every_finding_has_its_runbook(code: str) -> None:
    path = ROOT / runbook_for(code)
    assert path.is_file(), f"finding {code} links {runbook_for(code)}, which does not exist"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# {code}"), f"{path.name} should start with '# {code}: …'"


def test_runbook_index_links_every_finding() -> None:
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    missing = [code for code in sorted(CODES) if f"]({code}.md)" not in index]
    assert not missing, f"runbooks/README.md does not link {missing}"


def test_no_runbook_for_an_unknown_finding() -> None:
    upper = {p.stem for p in RUNBOOKS.glob("*.md") if p.stem.isupper() and p.stem != "README"}
    unknown = sorted(upper - CODES)
    assert not unknown, f"runbooks for codes bench.analysis.diagnose does not know: {unknown}"


# --- links -----------------------------------------------------------------------------------
_INLINE_CODE = re.compile(r"(`+).*?\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    _, prose = split_markdown(path)
    return {slug(m.group(1)) for _, line in prose if (m := _HEADING.match(line))}


def links() -> Iterator[tuple[str, Path, str]]:
    for path in docs():
        for n, line in split_markdown(path)[1]:
            for target in _LINK.findall(_INLINE_CODE.sub("", line)):
                if not _SCHEME.match(target):
                    yield f"{path.relative_to(ROOT)}:{n}", path, target


LINKS = list(links())


def test_docs_have_links() -> None:
    assert len(LINKS) > 20


@pytest.mark.parametrize(("where", "path", "target"), LINKS, ids=[f"{w}->{t}" for w, _, t in LINKS])
def test_relative_link_resolves(where: str, path: Path, target: str) -> None:
    file_part, _, anchor = target.partition("#")
    dest = (path.parent / file_part).resolve() if file_part else path
    if dest in PENDING and not dest.exists():
        pytest.skip(f"{where}: {target} is committed later")
    assert dest.exists(), f"{where}: link target {target} does not exist"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{where}: no heading in {dest.name} has anchor #{anchor}"


# --- commands in code blocks -----------------------------------------------------------------
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")
_WRAPPERS = {"sudo": 0, "time": 0, "nice": 0, "env": 0, "taskset": 2}


def shell_lines(script: str) -> Iterator[str]:
    """Logical lines of a shell script: continuations joined, here-document bodies left out."""
    lines = script.replace("\\\n", " ").splitlines()
    end: str | None = None
    for line in lines:
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        m = _HEREDOC.search(line)
        if m:
            end = m.group(1)
        yield line


def bench_commands(script: str) -> Iterator[list[str]]:
    """argv (after `bench`) of every bench command in a shell script, placeholders filled in."""
    for line in shell_lines(script):
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        try:
            tokens = list(lex)
        except ValueError as exc:
            raise AssertionError(f"cannot split shell line {line!r}: {exc}") from None
        segment: list[str] = []
        for tok in [*tokens, ";"]:
            if tok and all(c in "();<>|&" for c in tok):
                yield from _bench_argv(segment)
                segment = []
            else:
                segment.append(tok)


def _bench_argv(words: list[str]) -> Iterator[list[str]]:
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGNMENT.match(w):
            i += 1
        elif w in _WRAPPERS:
            i += 1 + _WRAPPERS[w]
        elif w == "bench" or w.endswith("/bench") or w == "$(command -v bench)":
            yield ["1" if a.startswith("$") or _PLACEHOLDER.match(a) else a for a in words[i + 1:]]
            return
        else:
            return


def yaml_runs(text: str) -> Iterator[str]:
    """The `run:` scripts of a GitHub Actions workflow."""
    yaml = pytest.importorskip("yaml")

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "run" and isinstance(v, str):
                    yield v
                else:
                    yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    yield from walk(yaml.safe_load(text))


def commands() -> Iterator[tuple[str, list[str]]]:
    for b in all_blocks():
        if b.lang in ("bash", "sh", "shell"):
            scripts = [b.text]
        elif b.lang in ("yaml", "yml") and "runs-on" in b.text:
            scripts = list(yaml_runs(b.text))
        else:
            continue
        for script in scripts:
            for argv in bench_commands(script):
                yield b.where, argv


COMMAND_LINES = list(commands())


def test_docs_have_bench_commands() -> None:
    assert len(COMMAND_LINES) > 30
    used = {next((a for a in argv if a in COMMANDS), None) for _, argv in COMMAND_LINES}
    assert {"compare", "gate", "attach", "report", "strategies"} <= used


@pytest.mark.parametrize(
    ("where", "argv"), COMMAND_LINES,
    ids=[f"{w}:bench {' '.join(a)}"[:120] for w, a in COMMAND_LINES],
)
def test_bench_command_parses(where: str, argv: list[str]) -> None:
    command = next((a for a in argv if a in COMMANDS), None)
    try:
        args = build_parser(command).parse_args(argv)
        labels = (getattr(args, "strategies", None) or "").split(",")
        for label in [*labels, getattr(args, "strategy", None)]:
            if label and label != "all":
                parse_run(label, Config().threads, Config().start_method)
    except BenchError as exc:
        pytest.fail(f"{where}: `bench {shlex.join(argv)}` is not a valid command: {exc}")
    except SystemExit as exc:  # --help / --version print and exit 0
        assert exc.code == 0, f"{where}: `bench {shlex.join(argv)}` exited {exc.code}"


def test_command_extraction() -> None:
    script = (
        "out=$(mktemp -d)\n"
        "OMP_WAIT_POLICY=PASSIVE bench compare --preset smoke \\\n  -n 2 -o \"$out\"  # note\n"
        "cat > bench.toml <<'EOF'\nbench not a command\nEOF\n"
        "bench gate \"$out/x\" || test $? -eq 1; sudo bench attach --pid PID\n"
        "ls bench\n"
    )
    assert list(bench_commands(script)) == [
        ["compare", "--preset", "smoke", "-n", "2", "-o", "1"],
        ["gate", "1"],
        ["attach", "--pid", "1"],
    ]


# --- gate tables and thresholds --------------------------------------------------------------
TOML_BLOCKS = [b for b in all_blocks() if b.lang == "toml"]


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[b.where for b in TOML_BLOCKS])
def test_toml_block_is_valid_config(block: Block) -> None:
    data = tomllib.loads(block.text)
    gate = data.get("tool", {}).get("bench", {}).get("gate", data.get("gate"))
    if gate is not None:
        parse_rules(gate, block.where)
    settings = data.get("tool", {}).get("bench", data)
    unknown = set(settings) - CONFIG_KEYS - FOREIGN_TABLES - {"tool"}
    assert not unknown, f"{block.where}: unknown settings {sorted(unknown)}"


_QUOTED_THRESHOLD = re.compile(r"`([A-Z][A-Z0-9_]+) = (-?\d+(?:\.\d+)?)`")
QUOTES = [
    (f"{p.relative_to(ROOT)}:{n}", name, float(value))
    for p in docs()
    for n, line in split_markdown(p)[1]
    for name, value in _QUOTED_THRESHOLD.findall(line)
]


# Where the named limits a runbook may quote live.
LIMIT_MODULES = (thresholds, *(sys.modules[f"bench.analysis.diagnose.findings.{c.lower()}"] for c in sorted(CODES)),
                 report_matrix, report_hypotheses)


def test_runbooks_quote_thresholds() -> None:
    assert len(QUOTES) >= 10


@pytest.mark.parametrize(("where", "name", "value"), QUOTES, ids=[f"{w}:{n}" for w, n, _ in QUOTES])
def test_quoted_threshold_matches_the_code(where: str, name: str, value: float) -> None:
    module = next((m for m in LIMIT_MODULES if hasattr(m, name)), None)
    assert module is not None, f"{where}: no {name} in {[m.__name__ for m in LIMIT_MODULES]}"
    actual = getattr(module, name)
    assert actual == pytest.approx(value), f"{where}: {name} = {value}; {module.__name__}: {actual}"
