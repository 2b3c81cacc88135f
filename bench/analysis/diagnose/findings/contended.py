"""CONTENDED: Other processes took the cores while the run measured.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Required, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    num,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "CONTENDED"
RUNBOOK = "runbooks/CONTENDED.md"

# Mean share of the usable cores kept busy by processes outside the run's tree while its trials
# ran (machine-wide per-core use minus the tree's CPU and the probes' own: their process and its
# py-spy dumps, up to a third of a core for a tree of many Python processes, are not other jobs).
# A quarter of the machine taken by others skews every ratio measured in the run.
CONTENDED_SHARE_MIN = 0.25
# When at least this share of the run's CPU ran at a positive niceness (Ray's workers: 15), the
# finding says so: the kernel gives such processes a small part of each core they share with a
# process at nice 0, so the other load slowed this run more than its share of the cores suggests.
NICED_SHARE_MIN = 0.5


class Evidence(TypedDict, total=False):
    """What CONTENDED records: on one machine the four figures every arm writes; on a cluster the
    most loaded host's, and each host's share."""

    foreign_cores_mean: Required[float | None]
    usable_cores: Required[int]  # on a cluster, the host's cores
    foreign_share: Required[float | None]
    run_cpu_cores_mean: Required[float | None]
    probe_cores_mean: float | None  # one machine: the probes' own, left out of the others'
    niced_cpu_share: float | None  # the run's CPU done at a positive niceness, when most of it was
    nice: int  # the niceness that did most of it
    # A cluster: the most loaded host, its Ray nodes, and every host's share of its cores.
    host: str
    ray_nodes_on_host: int
    hosts: dict[str, float | None]


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Other processes took a large share of the usable cores while the trials ran."""
    if obs.nodes:
        return _hosts(obs, ctx)
    share = obs.foreign_share
    if share is None or share < CONTENDED_SHARE_MIN or obs.foreign_cores_mean is None:
        return None
    ev: Evidence = {
        "foreign_cores_mean": r(obs.foreign_cores_mean),
        "usable_cores": obs.usable_cores,
        "foreign_share": r(share),
        "run_cpu_cores_mean": r(obs.cpu_cores_mean),
    }
    if obs.observer_cores_mean is not None:  # results from before the probes counted their own
        ev["probe_cores_mean"] = r(obs.observer_cores_mean)
    niced = ""
    if (obs.niced_cpu_share or 0.0) >= NICED_SHARE_MIN and obs.niced_nice is not None:
        ev["niced_cpu_share"] = r(obs.niced_cpu_share or 0.0)
        ev["nice"] = obs.niced_nice
        niced = (
            f" {obs.niced_cpu_share:.0%} of this run's CPU ran at nice {obs.niced_nice}"
            f"{' (Ray starts its workers at nice 15)' if obs.niced_nice == 15 else ''}: the kernel "
            "gives such processes a small part of any core they share with a process at nice 0, "
            "so the other load slowed this run more than its share of the cores suggests."
        )
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        "While this run's trials ran, processes outside it kept a mean "
        f"{obs.foreign_cores_mean:.1f} of {obs.usable_cores} usable cores busy ({share:.0%}; "
        "machine-wide CPU minus this run's process tree and corebench's own probes). Its trials "
        "competed for the cores, so "
        "its speed, and every ratio taken against it, reflect that load rather than the strategy."
        + niced,
        "Re-run on a quiet machine (stop other jobs; check `uptime` load), or give the run cores "
        "nobody else uses (taskset, a dedicated VM) before trusting its ratios.",
    )


def is_contended(obs: Observation) -> bool:
    """The rule's verdict on a run whose findings are not at hand (a run's sequential baseline)."""
    return rule(obs, RunContext(label="", kind="", workers=1)) is not None


def _hosts(obs: Observation, ctx: RunContext) -> Finding | None:
    """CONTENDED on a cluster, host by host: the driver machine's load says nothing of the nodes,
    and a host's cores are not the Ray CPUs the run's figures count, so the most loaded host is
    compared with its own cores (its CPU minus its Ray nodes' processes; the probe counts as
    other, as it does on one machine)."""
    loads = [h for h in obs.hosts if h.foreign_share is not None]
    worst = max(loads, key=lambda h: h.foreign_share or 0.0, default=None)
    if worst is None or worst.foreign_cores_mean is None or worst.foreign_share is None:
        return None
    if worst.foreign_share < CONTENDED_SHARE_MIN:
        return None
    share = worst.foreign_share
    ev: Evidence = {
        "host": worst.host,
        "foreign_cores_mean": r(worst.foreign_cores_mean),
        "usable_cores": worst.cores,
        "foreign_share": r(share),
        "ray_nodes_on_host": worst.nodes,
        "hosts": {h.host: r(h.foreign_share) for h in obs.hosts},
        "run_cpu_cores_mean": r(obs.cpu_cores_mean),
    }
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        f"While this run's trials ran, processes outside its Ray nodes kept a mean "
        f"{worst.foreign_cores_mean:.1f} of host {worst.host}'s {worst.cores} cores busy "
        f"({share:.0%}; the host's CPU minus the processes of its {worst.nodes} Ray node(s)). "
        "Trials there competed for the cores, so the run's speed, and every ratio taken against "
        "it, reflect that load rather than the strategy.",
        f"Re-run with {worst.host} quiet (stop other jobs; check `uptime` load there), or give "
        "Ray nodes hosts nobody else uses, before trusting the run's ratios.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    busy = num(e["foreign_cores_mean"])
    cores = e["usable_cores"]
    return f"shared the machine: other processes kept {busy} of {cores} cores busy"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
