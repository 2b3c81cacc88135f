"""Property-based fuzzing of settings (bench.toml contents, CLI flags): every input ends in a
validated config (`--check` prints it, exit 0) or in one line on stderr and exit 2; never a
traceback, never a hang. `--check` stops after validation, so an example takes milliseconds.

The example budget is fixed for CI (FUZZ_EXAMPLES, default below); a long local run:
`COREBENCH_FUZZ_EXAMPLES=2000 python -m pytest tests/unit/test_config_fuzz.py`."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.config import CONFIG_KEYS

FUZZ_EXAMPLES = int(os.environ.get("COREBENCH_FUZZ_EXAMPLES", "15"))
HANG_S = 20  # one example taking this long is a hang, not load
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the outcome every input must have ----------------------------------------------------------


@contextlib.contextmanager
def _in_tmp_dir() -> Iterator[Path]:
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="corebench-fuzz-") as d:
        os.chdir(d)
        try:
            yield Path(d)
        finally:
            os.chdir(old)


def _alarm(signum: int, frame: Any) -> None:
    raise AssertionError(f"an example ran over {HANG_S} s: a hang")


def check_outcome(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)  # an exception escaping here is a traceback for the user
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    lines = err.getvalue().splitlines()
    event(f"exit {code}")  # --hypothesis-show-statistics: how many inputs were valid
    if code == 0:
        json.loads(out.getvalue())  # the validated config
        assert "Traceback" not in err.getvalue()
        return
    assert code == 2, (code, err.getvalue())
    assert len(lines) == 1 and lines[0].startswith("bench"), lines


# -- values --------------------------------------------------------------------------------------

TEXT = st.text(max_size=30)
NUMBER_TEXT = st.sampled_from(
    ["nan", "inf", "-inf", "0", "-1", "1", "2", "1e-9", "0.05", "1e300", "99999999999", "8.0", "", " ",
     "4294967296", "1_000", "0x10", "٤"]
)
SCALARS = (
    st.booleans() | st.integers() | st.integers(min_value=-10, max_value=300)
    | st.floats(allow_nan=True, allow_infinity=True) | TEXT
    | st.sampled_from(["auto", "unlimited", "pool", "all", "ray", "loop", "batched", "tpe", "random",
                       "fork", "spawn", "forkserver", "minimize", "maximize", "smoke", "default",
                       "sqlite:///x.db?password=pw", "postgresql+psycopg2://u:pw@h/db",
                       "tests.data.tiny_objective:objective", "pool@unlimited/spawn", "islands"])
)
TOML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=6)
KEYS = st.sampled_from(sorted(CONFIG_KEYS)) | st.sampled_from(["gate", "prices", "tool", "trails"]) | TEXT


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string, or invalid TOML (also bad input)
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def toml_doc(table: dict[str, Any], under_tool: bool) -> str:
    head = "[tool.bench]\n" if under_tool else ""
    return head + "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in table.items())


@FUZZ
@given(table=st.dictionaries(KEYS, TOML_VALUES, max_size=6), under_tool=st.booleans(),
       file_name=st.sampled_from(["bench.toml", "pyproject.toml"]))
def test_any_config_file_is_a_config_or_one_line_and_exit_2(
    table: dict[str, Any], under_tool: bool, file_name: str,
) -> None:
    with _in_tmp_dir() as d:
        (d / file_name).write_text(toml_doc(table, under_tool), encoding="utf-8")
        check_outcome(["compare", "--check"])


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes_as_bench_toml_are_a_config_or_one_line_and_exit_2(data: bytes) -> None:
    with _in_tmp_dir() as d:
        (d / "bench.toml").write_bytes(data)
        check_outcome(["compare", "--check"])


FLAGS = [
    "--preset", "--trials", "--generations", "--seeds", "--population", "--workers", "--mode", "--threads",
    "--start-method", "--trial-timeout", "--timeout", "--sampler", "--sampler-seed", "--storage",
    "--study-name", "--objective", "--direction", "--out", "--name", "--ray-address", "--probe-interval",
    "--stack-interval", "--migrate-every", "--migrants", "--price-per-hour", "--strategies", "--config",
]
SWITCHES = ["--no-stacks", "--force", "--no-report", "-y", "--bogus", "-n"]
FLAG_VALUE = NUMBER_TEXT | TEXT | SCALARS.map(str)
ARGS = st.lists(
    st.tuples(st.sampled_from(FLAGS), FLAG_VALUE).map(list) | st.sampled_from(SWITCHES).map(lambda s: [s]),
    max_size=6,
).map(lambda parts: [a for part in parts for a in part])


@FUZZ
@given(command=st.sampled_from(["compare", "run", "sweep"]), args=ARGS)
def test_any_flags_are_a_config_or_one_line_and_exit_2(command: str, args: list[str]) -> None:
    if command == "run":
        args = ["--strategy", "pool", *args]
    if command == "sweep" and "--strategies" not in args:
        args = ["--strategies", "pool", *args]
    with _in_tmp_dir():
        check_outcome([command, *args, "--check"])
