"""bench.trial.heartbeat.trial: one trial's beats from this thread, from a first beat to its end."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bench.trial import heartbeat


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_trial_beats_at_once_and_is_detached_however_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "heartbeats.jsonl"
    with heartbeat.trial(str(path), "pool", 7, "w0"):
        heartbeat.beat(3, 3)  # the last step always beats
    first, last = lines(path)
    assert (first["run"], first["trial"], first["worker"], first["step"]) == ("pool", 7, "w0", 0)
    assert first["tid"] == threading.get_native_id() and last["step"] == 3
    heartbeat.beat(1, 1, force=True)  # detached: nothing is written
    assert len(lines(path)) == 2

    with pytest.raises(ValueError), heartbeat.trial(str(path), "pool", 8, "w0"):
        raise ValueError("objective failed")
    heartbeat.beat(1, 1, force=True)
    assert [x["trial"] for x in lines(path)] == [7, 7, 8]


def test_no_path_means_no_beats(tmp_path: Path) -> None:
    with heartbeat.trial(None, "pool", 1, "w0"):
        heartbeat.beat(1, 1, force=True)
    assert list(tmp_path.iterdir()) == []
