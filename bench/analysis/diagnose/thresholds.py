"""The numbers several findings and the observation share (what counts as busy, as parallel, as
enough evidence, as efficient); each finding keeps its own thresholds in its module.

Shares are fractions (0.4 = 40 %); CPU percentages follow the probes' convention, 100 = one core.
"""

from __future__ import annotations

# --- what counts as busy ---------------------------------------------------------------------
# A process counts as a busy worker in a tree sample when it used at least a quarter of a core:
# Ray's raylet/GCS, an idle pool parent and the runner stay below, a worker in a trial is near 100.
BUSY_PROCESS_MIN_PCT = 25.0
# A thread counts as runnable in a tree sample when it used at least this share of a core. /proc
# counts in 10 ms ticks, so in a 0.5 s interval 5 % is two or more ticks: a thread that only woke
# for a heartbeat stays below, while 4 threads queueing for one core still get ~25 % each. The
# tree sampler counts every thread against the same bar (probes.tree.BUSY_THREAD_MIN_PCT, its
# "busy_threads"); this one applies only to samples without that count.
RUNNABLE_THREAD_MIN_PCT = 5.0
# Tree samples kept for the work phase need at least this many, else the whole run is used
# (a very short run may have only a sample or two inside its trials).
MIN_WORK_SAMPLES = 2

# --- parallelism and evidence ----------------------------------------------------------------
# Trials in flight at once (trial records or heartbeats) needed to call a run parallel at all.
PARALLEL_MIN_INFLIGHT = 2
# Live process (no trial records): mean active Python threads per stack sample for "many busy
# Python threads in one process"; 1.5 means two or more were busy in most samples.
MIN_ACTIVE_PY_THREADS = 1.5
# Stack samples of one process needed before its thread states count as evidence (py-spy dumps
# are instants; two or three can all fall between trials).
MIN_STACK_SAMPLES = 4

# --- efficiency --------------------------------------------------------------------------------
# Useful efficiency (speedup / workers, from completed trials per second) a run needs for
# HEALTHY; below it some other finding should say why.
HEALTHY_MIN_EFFICIENCY = 0.7
# Below this useful efficiency a finding that explains it is an error, not a warning.
LOW_EFFICIENCY = 0.5
