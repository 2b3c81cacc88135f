"""The shapes of every record corebench writes, as TypedDicts, and their validators.

A record read back is checked against its shape before any reader sees it: every field it holds
has the type written here (nested lists and objects included), so analysis and report code can
rely on `float(rec["start"])` or `for p in sample["procs"]` without guarding each access. Fields
are optional (older or partial records lack some) and unknown fields are kept: the shapes say
what a field must be when present, not that it must be there.

Validation is pydantic in strict mode (no "5" -> 5, no true -> 1) on TypedDicts, so the records
stay plain dicts at runtime and mypy checks the keys readers use. The few fields marked Required
are ones every writer always writes and readers index directly (a trial's start and end, a
sample's time).

Over 300 lines and kept whole: it is one concept, the shapes of one results directory, most of
it field lists; split, the record types would import one another (a sample holds processes that
hold threads, run.json holds runs and a machine) and the loaders would lose their one table.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Required, cast

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from bench.records.files import json_type

# NaN and infinity are refused: no writer records them (a NaN objective value is a failed trial
# with value null), so one in a time or CPU field is damage that would poison every mean.
_CONFIG = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)
# A measured number (a time, CPU seconds or percent, a count per second): finite, and within a
# bound no measurement reaches (epoch seconds are ~2e9), so that sums, rates and axis limits
# computed from damaged records cannot overflow to infinity (1e308 + 1e308). A trial's value is
# the objective's own number and is not bounded.
MEASURE_MAX = 1e15
Measure = Annotated[float, Field(ge=-MEASURE_MAX, le=MEASURE_MAX)]
# A fit's goodness figures may be infinite (a fit that did not converge).
_FIT_CONFIG = ConfigDict(strict=True, extra="allow", allow_inf_nan=True)

# What a run label may hold (the label grammar `name@threads/start`, with room for a future
# strategy), and the other fields that name a thing rather than describe it (status, kind,
# strategy, state, a probe's name and level). They are printed in reports as they are, inside
# code spans and table cells, so anything else is a damaged record: none of these characters
# is markup in markdown or HTML.
TOKEN_CHARS = r"A-Za-z0-9_.:@/+=-"
LABEL_RE = re.compile(rf"[A-Za-z0-9][{TOKEN_CHARS}]{{0,119}}")
Label = Annotated[str, StringConstraints(pattern=rf"^{LABEL_RE.pattern}$")]
Token = Annotated[str, StringConstraints(pattern=rf"^[{TOKEN_CHARS}]{{0,64}}$")]


def is_label(value: object) -> bool:
    return isinstance(value, str) and LABEL_RE.fullmatch(value) is not None


# --- trials.jsonl ------------------------------------------------------------------------------
@with_config(_CONFIG)
class TrialRow(TypedDict, total=False):
    """One finished trial (bench.trial.execute.TrialRecord as written)."""

    run: Label
    strategy: Token
    number: int
    state: Token
    value: float | None
    params: dict[str, Any]
    start: Required[Measure]
    end: Required[Measure]
    pid: int
    pids: list[int] | None
    worker: str
    torch_threads: int | None
    host: str
    error: str | None
    node: str | None
    # Wall time of the trial's storage calls (ask, tell, suggest, report), where timed.
    storage_s: Measure | None
    # A watched program's trials (bench watch's tracer): how the trial was run, by which
    # process and thread, in which study.
    mode: str
    client_pid: int | None
    tid: int
    study: str | None
    values: list[float] | None


# --- runs.jsonl --------------------------------------------------------------------------------
@with_config(_CONFIG)
class RunRow(TypedDict, total=False):
    """How one strategy run ended (written by bench.run.child, or the runner for it)."""

    run: Label
    strategy: Token
    kind: Token
    status: Token
    reason: str | None
    threads_policy: Token
    start_method: Token
    workers: int
    threads: int | None
    pid: int
    process_start: Measure | None
    start: Measure
    end: Measure
    wall: Measure
    trials_asked: int
    trials_told: int
    trials_cancelled: int
    # What decided the parameters (declared space or define-by-run) and the classes in use.
    params_path: str
    sampler: str
    pruner: str
    # The storage backend and who calls it (the parent, or every worker).
    storage: str | None
    storage_in_workers: bool
    storage_callers: int
    # bench watch: whether the program's trials were traced from inside it.
    trials_traced: bool


# --- heartbeats.jsonl --------------------------------------------------------------------------
@with_config(_CONFIG)
class Heartbeat(TypedDict, total=False):
    """Progress from inside a trial (bench.trial.heartbeat)."""

    t: Measure
    run: Label
    pid: int
    tid: int
    worker: str
    trial: int
    step: int
    total: int


# --- samples.jsonl -----------------------------------------------------------------------------
@with_config(_CONFIG)
class ThreadCpu(TypedDict, total=False):
    tid: int
    cpu_s: Measure
    cpu_pct: Measure


@with_config(_CONFIG)
class ProcRow(TypedDict, total=False):
    """One process of a tree sample (probes.tree)."""

    pid: int
    ppid: int | None
    name: str
    cmd: str
    status: str
    cpu_pct: Measure
    num_threads: int
    rss: int
    ctx_vol: int
    ctx_invol: int
    ctx_vol_delta: int
    ctx_invol_delta: int
    threads: list[ThreadCpu]
    busy_threads: int | None
    is_root: bool
    node: str | None
    nice: Annotated[int, Field(ge=-20, le=19)]  # present when not 0 (Ray's workers: 15)
    # Thread pools of the libraries the process has loaded (from /proc/PID/maps).
    pools: list[str]


@with_config(_CONFIG)
class TreeSample(TypedDict, total=False):
    """A process-tree sample (probes.tree); "node" samples add the Ray node's identity."""

    kind: Token
    run: Label
    t: Required[Measure]
    root: int
    interval: Measure
    n_procs: int
    n_threads: int
    cpu_pct_total: Measure
    capacity_pct: Measure
    usable_cores: int
    per_core: list[Measure]
    load1: Measure
    unattributed_cpu_s: Measure
    unattributed_method: str
    observer_cpu_s: Measure  # the probes' own CPU in the interval (probes.tree.sampler)
    ctx_invol_delta: int
    ctx_vol_delta: int
    procs: list[ProcRow]
    node_id: str | None
    node_ip: str | None
    hostname: str | None
    ray_cpus: Measure | None
    probe_pid: int | None
    workers: list[int]  # a node sample's Ray worker processes (probes.ray_nodes)
    nodes: int  # a cluster's merged sample: the nodes it sums (analysis.diagnose.cluster)
    # The root's own limits: processes left out of `procs` (idle, unchanged), CPU steal, its
    # cgroup's CPU quota in cores and that cgroup's throttling since the previous sample.
    idle_procs: int
    steal_pct: Measure | None
    cpu_quota: Measure | None
    throttle: dict[str, Measure]


@with_config(_CONFIG)
class ThreadWait(TypedDict, total=False):
    """The kernel's view of a thread's waits over a dump (probes.gil.ThreadWait.as_record)."""

    window_s: Measure
    run: Measure
    queue: Measure
    sleep: Measure
    switches_s: Measure
    reads: int
    gil_blocked: int
    other_blocked: int
    gil_wait: Measure


@with_config(_CONFIG)
class StackThread(TypedDict, total=False):
    tid: int | None
    name: str
    state: str
    active: bool
    owns_gil: bool
    frames: list[str]
    wait: ThreadWait


@with_config(_CONFIG)
class StackSample(TypedDict, total=False):
    """One py-spy dump of one process (probes.stacks)."""

    kind: Token
    run: Label
    t: Required[Measure]
    pid: int
    threads: list[StackThread]
    counts: dict[str, int]


@with_config(_CONFIG)
class Note(TypedDict, total=False):
    """A probe's message about itself (py-spy missing, a node lost)."""

    kind: Token
    run: Label
    t: Measure
    probe: Token
    level: Token
    message: str


@with_config(_CONFIG)
class OtherSample(TypedDict, total=False):
    """A sample of a kind this version does not read: kept, checked only for its common fields."""

    kind: Token
    run: Label
    t: Measure


Sample = TreeSample | StackSample | Note | OtherSample


# --- run.json ----------------------------------------------------------------------------------
@with_config(_CONFIG)
class Machine(TypedDict, total=False):
    """Machine facts (probes.machine.fingerprint)."""

    id: str
    hostname: str
    cpu_model: str
    logical_cores: int
    physical_cores: int
    smt: bool
    usable_cores: int
    cgroup_cpu_limit: Measure | None
    memory_bytes: int
    platform: str
    python: str
    versions: dict[str, str | None]
    thread_env: dict[str, str]
    torch_threads: int | None
    torch_interop_threads: int | None


@with_config(_CONFIG)
class GitState(TypedDict, total=False):
    commit: str | None
    dirty: bool | None


@with_config(_CONFIG)
class Outcome(TypedDict, total=False):
    label: Label
    status: Token
    exit_code: int


@with_config(_CONFIG)
class RunMeta(TypedDict, total=False):
    """run.json: what ran, where, with which settings."""

    schema_version: int
    run_id: str
    created: Measure
    end: Measure | None
    corebench_version: str
    command: list[str]
    config: dict[str, Any]
    machine: Machine
    git: GitState
    deadline: Measure | None
    plan: list[Label]
    outcomes: list[Outcome]
    # `bench attach` results: the process watched and what was found in it.
    pid: int
    findings: list[dict[str, Any]]
    summary: dict[str, Any]
    # `bench watch` results: how the program ended, and what it left behind that bench stopped.
    watch: dict[str, Any]
    duration: Measure | None
    leftovers_stopped: list[int]


# --- sweep.json --------------------------------------------------------------------------------
@with_config(_FIT_CONFIG)
class FitParam(TypedDict, total=False):
    value: float
    stderr: float | None
    at_bound: bool


@with_config(_FIT_CONFIG)
class FitRow(TypedDict, total=False):
    model: Token
    status: Token
    reason: str
    params: dict[str, FitParam]
    covariance: list[list[float]] | None
    dof: int
    r2: float | None
    rmse: float | None
    base_workers: int


@with_config(_CONFIG)
class SweepDoc(TypedDict, total=False):
    """sweep.json: one strategy at several worker counts and the models fitted to it."""

    schema_version: int
    kind: str
    strategy: Label
    status: Token
    workers: list[int]
    config: dict[str, Any]
    machine: Machine | None
    cores: list[int]
    fits: dict[str, FitRow]
    fitted_workers: list[int]
    base_throughput: float | None
    points: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    notes: list[str]


class ShapeError(ValueError):
    """A record that is not of its shape; the message names the first bad field."""


@cache
def _adapter(shape: type) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def check(shape: type, data: object) -> dict[str, Any]:
    """`data` as a record of `shape`, or ShapeError saying which field is wrong."""
    if not isinstance(data, dict):
        raise ShapeError(f"a JSON {json_type(data)}, not an object")
    try:
        out = cast(dict[str, Any], _adapter(shape).validate_python(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "record"
        msg = "not a run label or name" if err["type"] == "string_pattern_mismatch" else err["msg"].lower()
        raise ShapeError(f"{where}: {msg}") from None
    return out


def check_object(data: object) -> dict[str, Any]:
    """Any JSON object (a JSONL file of no known record shape)."""
    if not isinstance(data, dict):
        raise ShapeError(f"a JSON {json_type(data)}, not an object")
    return data


def check_trial(data: object) -> TrialRow:
    return cast(TrialRow, check(TrialRow, data))


def check_run(data: object) -> RunRow:
    return cast(RunRow, check(RunRow, data))


def check_heartbeat(data: object) -> Heartbeat:
    return cast(Heartbeat, check(Heartbeat, data))


_SAMPLE_SHAPES: dict[str, type] = {"tree": TreeSample, "node": TreeSample, "stack": StackSample, "note": Note}


def check_sample(data: object) -> Sample:
    """A sample checked against the shape of its kind."""
    kind = data.get("kind") if isinstance(data, dict) else None
    shape = _SAMPLE_SHAPES.get(kind if isinstance(kind, str) else "", OtherSample)
    return cast(Sample, check(shape, data))


def check_meta(data: object) -> RunMeta:
    return cast(RunMeta, check(RunMeta, data))
