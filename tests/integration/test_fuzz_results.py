"""Property: whatever a results directory holds, `bench gate` and `bench report` either succeed or
print one error line and exit 2 (the gate may exit 1, but only for a regression it wrote down);
never a traceback, an internal error or a hang.

The examples start from a small valid results directory and damage it: run.json, each JSONL file
and sweep.json replaced by random JSON, random bytes, a record with one field changed (to any JSON
value, including numbers of the right type at their extremes: 0, negatives, 1e308), or a FIFO, a
directory, a symlink loop or nothing. The example budget is the hypothesis profile's
(tests/conftest.py: "ci" by default; HYPOTHESIS_PROFILE=fuzz for a long local run).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.cli import main
from tests.support import synthetic as S
from tests.support.damaged import SPECIAL, bounded, place, valid_sim
from tests.support.runs import REPO

# One example must finish well inside this, or it is a hang (the FIFO case used to block forever).
EXAMPLE_LIMIT_S = 60
FILES = ("runs.jsonl", "trials.jsonl", "samples.jsonl", "heartbeats.jsonl")
RULES = '[gate.pool]\nmin_processes = 2\nmin_speedup = 0.5\nforbid = ["OVERSUBSCRIBED"]\n[gate.sequential]\n'


def _sim() -> tuple[S.Sim, dict[str, Any]]:
    sim = valid_sim(stacks={"gil": 1, "idle": 1})
    sim.samples.append({"kind": "note", "run": "pool", "t": S.T0, "probe": "stack", "level": "info",
                        "message": "a note"})
    meta = S.meta()
    meta["plan"] = ["sequential", "pool"]
    return sim, meta


SIM, META = _sim()
# A real fitted sweep of `pool` (the committed reference one), so an undamaged one is used.
SWEEP = json.loads((REPO / "reports/reference/sweep-pool/sweep.json").read_text())

scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.sampled_from([0, -1, 1, 0.0, -0.0, 1e308, -1e308])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["", "pool", "sequential", "tree", "stack", "note", "node", "complete", "ok", "failed"])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _mutate(record: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """The record with one field (or one field of a nested object) changed or removed."""
    out = json.loads(json.dumps(record))
    target = out
    nested = [k for k, v in out.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if nested and data.draw(st.booleans(), label="nested"):
        target = out[data.draw(st.sampled_from(sorted(nested)), label="list")][0]
    key = data.draw(st.sampled_from(sorted(target) or ["x"]), label="field")
    how = data.draw(st.sampled_from(["remove", "any", "same type", "same type"]), label="change")
    if how == "remove":
        target.pop(key, None)
    elif how == "same type":  # passes the loader's checks: reaches the analysis with odd values
        target[key] = data.draw(_like(target.get(key)), label="typed value")
    else:
        target[key] = data.draw(json_values, label="value")
    return out


def _like(value: object) -> st.SearchStrategy[Any]:
    """Values of the type `value` has, at their extremes (0, negatives, huge, empty)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**63), 2**63) | st.sampled_from([0, -1, 1])
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -1.0, 1e308, 1e-308])
    if isinstance(value, str):
        return st.text(max_size=30) | st.sampled_from(["", "pool", "sequential", "ok", "failed", "complete"])
    if isinstance(value, list):
        return st.lists(json_values, max_size=3) | st.just([])
    if isinstance(value, dict):
        return st.dictionaries(st.text(max_size=8), json_values, max_size=3) | st.just({})
    return json_values


def _content(valid: list[dict[str, Any]], data: st.DataObject, name: str) -> bytes | str:
    """Bytes for one JSONL file, or a special kind ("fifo", "dir", "loop", "missing")."""
    how = data.draw(st.sampled_from(["keep"] * 3 + ["mutate"] * 5 + ["junk"] * 2 + ["bytes", "special"]), label=name)
    if how == "keep":
        return "".join(json.dumps(r) + "\n" for r in valid).encode()
    if how == "special":
        return data.draw(st.sampled_from(SPECIAL), label=f"{name} kind")
    if how == "bytes":
        return data.draw(st.binary(max_size=200), label=f"{name} bytes")
    lines = [json.dumps(r) for r in valid]
    n = data.draw(st.integers(1, 3), label=f"{name} changes")
    for _ in range(n):
        i = data.draw(st.integers(0, max(0, len(lines) - 1)), label="line")
        if how == "junk" or not valid:
            lines.insert(i, json.dumps(data.draw(json_values, label="junk line")))
        else:
            lines[i] = json.dumps(_mutate(json.loads(lines[i]), data))
    return ("\n".join(lines) + "\n").encode()


def _damaged(root: Path, data: st.DataObject, sweep: bool) -> Path:
    rd = S.write(SIM, root / "r", META)
    meta_how = data.draw(st.sampled_from(["keep"] * 5 + ["mutate"] * 3 + ["junk", "bytes", "special"]),
                         label="run.json")
    if meta_how == "mutate":
        place(rd / "run.json", json.dumps(_mutate(META, data)).encode())
    elif meta_how == "junk":
        place(rd / "run.json", json.dumps(data.draw(json_values, label="run.json value")).encode())
    elif meta_how == "bytes":
        place(rd / "run.json", data.draw(st.binary(max_size=200), label="run.json bytes"))
    elif meta_how == "special":
        place(rd / "run.json", data.draw(st.sampled_from(SPECIAL), label="kind"))
    by_file = {"runs.jsonl": SIM.runs, "trials.jsonl": SIM.trials, "samples.jsonl": SIM.samples,
               "heartbeats.jsonl": SIM.heartbeats}
    for name in FILES:
        place(rd / name, _content(by_file[name], data, name))
    if sweep:
        how = data.draw(st.sampled_from(["mutate", "junk", "bytes", "special", "keep"]), label="sweep.json")
        content: bytes | str = {
            "mutate": lambda: json.dumps(_mutate(SWEEP, data)).encode(),
            "junk": lambda: json.dumps(data.draw(json_values, label="sweep value")).encode(),
            "bytes": lambda: data.draw(st.binary(max_size=200), label="sweep bytes"),
            "special": lambda: data.draw(st.sampled_from(SPECIAL), label="sweep kind"),
            "keep": lambda: json.dumps(SWEEP).encode(),
        }[how]()
        place(root / "sweep.json", content)
    return rd


def _check_outcome(code: int, err: str, allowed: set[int]) -> None:
    # --hypothesis-show-statistics: how many examples got how far, and what stopped the others.
    why = next((ln for ln in err.splitlines() if ln.startswith("bench: error:")), "")
    event(f"exit {code} {re.sub(r'/[^ :]*', 'PATH', why)[14:70]}".rstrip())
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in allowed, (code, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("bench: error:")]
    others = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("bench: error:", "bench: warning:"))]
    assert not others, err
    assert len(errors) == (1 if code == 2 else 0), err


# capfd is read (emptied) around each example, so sharing it across examples is safe.
SHARED_CAPTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SHARED_CAPTURE
@given(data=st.data())
def test_gate_on_damaged_results_passes_fails_or_says_why(
    data: st.DataObject, capfd: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rd = _damaged(root, data, sweep=False)
        (root / "gate.toml").write_text(RULES)
        capfd.readouterr()
        with bounded(EXAMPLE_LIMIT_S):
            code = main(["gate", str(rd), "--config", str(root / "gate.toml"), "--summary", str(root / "gate.md")])
        err = capfd.readouterr().err
        _check_outcome(code, err, {0, 1, 2})
        if code == 1:  # a regression, and gate.md says which rule
            assert "❌ regression" in (root / "gate.md").read_text()


@pytest.mark.slow  # a report draws its plots: about a second an example
@SHARED_CAPTURE
@given(data=st.data())
def test_report_on_damaged_results_writes_or_says_why(
    data: st.DataObject, capfd: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # A bad --sweep stops the report before its plots: give one to half the examples.
        sweep = data.draw(st.booleans(), label="--sweep")
        rd = _damaged(root, data, sweep=sweep)
        capfd.readouterr()
        with bounded(EXAMPLE_LIMIT_S):
            code = main(["report", str(rd), "--out", str(root / "out" / "report.md"),
                         *(["--sweep", str(root / "sweep.json")] if sweep else [])])
        err = capfd.readouterr().err
        _check_outcome(code, err, {0, 2})
        if code == 0:
            assert (root / "out" / "report.md").stat().st_size > 0
