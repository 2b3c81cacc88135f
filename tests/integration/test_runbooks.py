"""Every code block marked `bash runnable` or `python runnable` in runbooks/*.md and README.md runs
and exits 0, so the commands a reader copies work (pyperf's tests/test_examples.py, for docs).

Each block runs on its own, as a reader would paste it: in a fresh empty directory that is also
its TMPDIR, bash blocks with `bash -e -o pipefail`, python blocks as a script. A block that expects
a non-zero exit says so itself (`bench gate ... || test $? -eq 1`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.docs import Block, all_blocks

# Smoke settings answer in well under a minute on 2 cores; a loaded machine gets room to spare.
TIMEOUT_S = 300
# Blocks that start a search, a sweep or a probe session take seconds to a minute each.
_SLOW = re.compile(r"\bbench\s+(compare|run|sweep|attach|watch)\b")
RUNNABLE = [b for b in all_blocks() if b.runnable]


def _param(b: Block) -> object:
    slow = b.lang == "python" or bool(_SLOW.search(b.text))
    return pytest.param(b, id=b.where, marks=[pytest.mark.slow] if slow else [])


def test_runnable_blocks_are_found() -> None:
    langs = {b.lang for b in RUNNABLE}
    assert langs <= {"bash", "python"}, f"runnable blocks in other languages: {langs}"
    assert len(RUNNABLE) >= 8
    assert any("bench gate" in b.text for b in RUNNABLE)
    assert any("bench attach" in b.text for b in RUNNABLE)


@pytest.mark.skipif(shutil.which("bench") is None, reason="no bench on PATH: pip install -e .")
@pytest.mark.parametrize("block", [_param(b) for b in RUNNABLE])
def test_runnable_block(block: Block, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if block.lang == "python":
        script = tmp_path / "example.py"
        argv = [sys.executable, str(script)]
    else:
        script = tmp_path / "block.sh"
        argv = ["bash", "-e", "-o", "pipefail", str(script)]
    script.write_text(block.text)
    env = {**os.environ, "TMPDIR": str(work), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    # Its own session, so whatever the block leaves behind (a background target) can be ended.
    proc = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{block.where}: still running after {TIMEOUT_S} s\n{out[-6000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, (
        f"{block.where} exited with {proc.returncode}\n--- block\n{block.text}"
        f"--- output (tail)\n{out[-6000:]}"
    )
