"""CPU quota, throttling and steal as the tree sampler records them, on a real cgroup."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from probes.machine import fingerprint, usable_cores
from probes.tree import ProcessTreeSampler
from probes.tree.cgroup import cpu_quota
from tests.scripts.cgroups import NoCgroup, cpu_cgroup
from tests.scripts.targets import target


def test_a_job_in_a_one_cpu_cgroup_is_capped_and_throttled() -> None:
    try:
        cgroup = cpu_cgroup(1.0)
        path = cgroup.__enter__()
    except NoCgroup as exc:
        pytest.skip(str(exc))
    try:
        with target("throttled_pool.py", str(path / "cgroup.procs"), "20") as proc:
            quota = cpu_quota(proc.pid)
            assert quota is not None and quota.cores == 1.0 and quota.directory == path
            assert usable_cores(proc.pid) == 1
            assert fingerprint(include_torch=False, pid=proc.pid)["cgroup_cpu_limit"] == 1.0
            sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
            sampler.sample_once()
            time.sleep(1.5)
            sample = sampler.sample_once()
    finally:
        cgroup.__exit__(None, None, None)
    assert not path.exists()
    assert sample is not None
    assert sample["usable_cores"] == 1 and sample["capacity_pct"] == 100.0
    assert sample["cpu_quota"] == 1.0
    # Two busy workers under a 1-CPU quota run out of it in most 100 ms periods
    throttle = sample["throttle"]
    assert throttle["periods"] >= 5 and throttle["throttled"] >= 0.5 * throttle["periods"]
    assert throttle["throttled_s"] > 0.1
    # ... and the quota, not the machine, caps them: about one core between them
    assert sample["cpu_pct_total"] <= 130


def test_this_process_has_no_quota_and_the_machine_s_cores() -> None:
    if cpu_quota() is not None:
        pytest.skip("this test process runs under a CPU quota")
    assert usable_cores() == len(os.sched_getaffinity(0))
    sample = ProcessTreeSampler(os.getpid(), lambda r: None, interval=0.05).sample_once()
    assert sample is not None and "cpu_quota" not in sample and "throttle" not in sample


def test_steal_from_recorded_proc_stat() -> None:
    from probes.tree.procfs import parse_proc_stat, steal_pct

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "proc_stat"
    before = parse_proc_stat((fixtures / "quiet_0.txt").read_text(), tick=1.0)
    quiet = parse_proc_stat((fixtures / "quiet_1.txt").read_text(), tick=1.0)
    stolen = parse_proc_stat((fixtures / "stolen_1.txt").read_text(), tick=1.0)
    assert len(before[1]) == len(quiet[1]) >= 1
    assert steal_pct(before[0], quiet[0]) < 1.0
    assert 25.0 <= steal_pct(before[0], stolen[0]) <= 31.0
    # a reading that did not move is no steal, not a division by zero
    assert steal_pct(before[0], before[0]) == 0.0
