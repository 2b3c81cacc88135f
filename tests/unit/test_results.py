"""Results on disk: atomic JSON, append-only JSONL that survives a crash mid-write, schema checks."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError, ConfigError, ResultsError
from bench.records.rundir import (
    SCHEMA_VERSION,
    RunDir,
    SkippedLinesWarning,
    load_meta,
    read_jsonl,
    write_json_atomic,
)
from bench.records.schema import check_trial
from probes.sink import JsonlSink


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    out = JsonlSink(path)
    for i in range(3):
        out.append({"number": i, "start": 0.0, "end": 1.0})
    with path.open("ab") as fh:
        fh.write(b'{"number": 3, "val')  # a writer killed mid-line
    with pytest.warns(SkippedLinesWarning, match=r"1 line skipped in trials.jsonl \(line 4: not JSON"):
        rows = read_jsonl(path, check_trial)
    assert [r["number"] for r in rows] == [0, 1, 2]


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_run_dir_names_never_collide(tmp_path: Path) -> None:
    a = RunDir.create(tmp_path, "x")
    b = RunDir.create(tmp_path, "x")
    assert a.path != b.path and a.path.is_dir() and b.path.is_dir()


def test_schema_version_mismatch_says_what_to_do(tmp_path: Path) -> None:
    rd = RunDir.create(tmp_path, "old")
    write_json_atomic(rd.run_file, {"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ResultsError, match="re-run `bench compare`"):
        load_meta(rd.path)


def test_not_a_results_dir(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not a corebench results directory"):
        load_meta(tmp_path)
    with pytest.raises(ResultsError, match="does not exist"):
        load_meta(tmp_path / "missing")


def test_environment_is_not_recorded_except_the_thread_whitelist(monkeypatch: pytest.MonkeyPatch) -> None:
    from probes.machine import fingerprint

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    facts = fingerprint(include_torch=False)
    assert facts["thread_env"] == {"OMP_NUM_THREADS": "3"} | {
        k: v for k, v in facts["thread_env"].items() if k != "OMP_NUM_THREADS"
    }
    assert "hunter2" not in json.dumps(facts)


def test_machine_topology_and_frequency_from_sysfs(tmp_path: Path) -> None:
    from probes.machine import cpu_frequency, numa_nodes, parse_cpu_list, smt_siblings

    assert parse_cpu_list("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    cpu, node = tmp_path / "cpu", tmp_path / "node"
    for i in (0, 1):
        (cpu / f"cpu{i}" / "topology").mkdir(parents=True)
        (cpu / f"cpu{i}" / "cpufreq").mkdir()
        (cpu / f"cpu{i}" / "cpufreq" / "scaling_governor").write_text("powersave\n")
    (cpu / "cpu0" / "topology" / "thread_siblings_list").write_text("0,64\n")
    (cpu / "cpu0" / "cpufreq" / "scaling_cur_freq").write_text("2100000\n")
    (cpu / "cpu0" / "cpufreq" / "cpuinfo_max_freq").write_text("3500000\n")
    node.mkdir()
    (node / "has_cpu").write_text("0-1\n")
    assert smt_siblings(cpu) == 2
    assert numa_nodes(node) == 2
    assert cpu_frequency(cpu) == {"cpu_governor": "powersave", "cpu_mhz": 2100.0, "cpu_max_mhz": 3500.0}
    assert smt_siblings(tmp_path / "none") is None and numa_nodes(tmp_path / "none") is None


def test_fingerprint_of_this_machine_has_the_new_facts() -> None:
    import platform

    import psutil

    from probes.machine import fingerprint

    f = fingerprint(include_torch=False)
    assert f["kernel"] == platform.release()
    for lib in ("scipy", "matplotlib", "pyelftools"):
        assert f["versions"][lib]  # all three are dependencies, so installed
    logical, physical = psutil.cpu_count(), psutil.cpu_count(logical=False)
    if f["smt_siblings"] is not None:
        assert f["smt_siblings"] >= 1
        if logical == physical:  # no SMT anywhere: one thread per core
            assert f["smt_siblings"] == 1
    if Path("/sys/devices/system/node").is_dir():
        assert f["numa_nodes"] >= 1
    assert f["cpu_mhz"] is None or f["cpu_mhz"] > 0


@pytest.mark.parametrize(
    "name", ["../../etc/x", "/abs/x", "a/b", "..", ".", "", "new\nline", "tab\there", "\x1b[31mred"]
)
def test_a_results_name_is_one_path_component(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="results directory name"):
        RunDir.create(out, name)
    assert not any(p for p in tmp_path.rglob("*") if p != out)  # nothing written anywhere


@pytest.mark.parametrize("name", ["../../etc/x", "/abs/x", "new\nline"])
def test_the_name_flag_is_refused_before_anything_runs(tmp_path: Path, name: str) -> None:
    from bench.cli import build_parser

    parser = build_parser("run")
    with pytest.raises(BenchError, match="results directory name") as info:
        parser.parse_args(["run", "--strategy", "pool", "--name", name, "-o", str(tmp_path)])
    assert info.value.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def _create(root: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(str(RunDir.create(root, "same").path))
    except Exception as exc:  # reported to the test, which fails on it
        out.put(f"error: {type(exc).__name__}: {exc}")


def test_concurrent_runs_with_one_name_each_get_their_own_directory(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    for round_ in range(5):
        root = tmp_path / f"r{round_}"
        barrier, out = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_create, args=(str(root), barrier, out)) for _ in range(8)]
        for p in procs:
            p.start()
        got = [out.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert not [g for g in got if g.startswith("error")], got
        assert sorted(Path(g).name for g in got) == sorted(["same", *(f"same-{i}" for i in range(2, 9))])


def test_out_that_is_a_file_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        RunDir.create(tmp_path / "f", "x")


def test_run_json_of_another_kind_of_value_says_what_is_wrong(tmp_path: Path) -> None:
    rd = RunDir.create(tmp_path, "v")
    for text, says in (("[]", "holds a JSON list"), ('{"schema_version": 1, "outcomes": [{"exit_code": "0"}]}',
                                                        "outcomes.0.exit_code")):
        rd.run_file.write_text(text)
        with pytest.raises(ResultsError, match=says):
            load_meta(rd.path)


def test_records_read_back_are_checked_field_by_field(tmp_path: Path) -> None:
    rd = RunDir.create(tmp_path, "t")
    good = {"run": "pool", "number": 0, "state": "complete", "start": 1.0, "end": 2, "pid": 7, "pids": None}
    bad = [{**good, "start": "x"}, {**good, "pid": True}, {**good, "pids": [1, "2"]}, {**good, "run": "a b"},
           {**good, "end": float("nan")}, {k: v for k, v in good.items() if k != "start"}]
    rd.file("trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [good, *bad]))
    with pytest.warns(SkippedLinesWarning, match="6 lines skipped in trials.jsonl"):
        rows = rd.trials()
    assert rows == [{**good, "end": 2.0}]
    assert rd.skipped["trials.jsonl"].count == 6
    # A tree sample must say when it was taken (found by the fuzz suite: a KeyError in the plots).
    rd.file("samples.jsonl").write_text(json.dumps({"kind": "tree", "run": "pool", "procs": []}) + "\n")
    with pytest.warns(SkippedLinesWarning, match="line 1: t: field required"):
        assert rd.samples() == []


def test_a_live_tail_keeps_a_partial_line_and_skips_what_is_not_a_record(tmp_path: Path) -> None:
    from bench.records.schema import check_heartbeat
    from bench.records.tail import JsonlTail

    path = tmp_path / "heartbeats.jsonl"
    tail = JsonlTail(path, check_heartbeat)
    assert tail.read() == []  # not there yet
    beat = {"t": 1.0, "run": "pool", "pid": 3, "trial": 0, "step": 1, "total": 4}
    path.write_bytes(json.dumps(beat).encode() + b"\n[1, 2]\n5\n" + b'{"t": "x"}\n' + b'{"t": 2.0, "run": "po')
    assert tail.read() == [beat] and tail.skipped == 3
    with path.open("ab") as fh:
        fh.write(b'ol", "trial": 1}\n')
    assert tail.read() == [{"t": 2.0, "run": "pool", "trial": 1}]
