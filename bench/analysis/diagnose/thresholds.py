"""Every number a finding rule compares against, named and explained in one place.

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

# --- THREADS_NOT_PROCESSES -------------------------------------------------------------------
# Trials in flight at once (trial records or heartbeats) needed to call a run parallel at all.
PARALLEL_MIN_INFLIGHT = 2
# Live process (no trial records): mean active Python threads per stack sample for "many busy
# Python threads in one process"; 1.5 means two or more were busy in most samples.
MIN_ACTIVE_PY_THREADS = 1.5

# --- GIL_BOUND -------------------------------------------------------------------------------
# Share of active Python threads (holding the GIL + waiting for it + in native code) seen waiting
# for the GIL across a run's stack samples. One waiter beside one holder is 50 %; a quarter means
# a thread was queueing in most samples.
GIL_WAIT_SHARE_MIN = 0.25
# The same question answered by the kernel (probes.gil): working threads' mean share of time asleep
# on the GIL. A thread alone on its GIL waits microseconds; two threads of a torch loop on one GIL
# wait 30-60 % each on an otherwise idle 2-core machine; a fifth is well clear of both.
GIL_WAIT_TIME_SHARE_MIN = 0.2
# Stack samples of one process needed before its thread states count as evidence (py-spy dumps
# are instants; two or three can all fall between trials).
MIN_STACK_SAMPLES = 4
# Without stack evidence, "one core" only means serialisation when cores were left idle: at
# least this many usable cores unused by anyone (a machine full of other work also caps a
# process at one core).
GIL_IDLE_CORES_MIN = 0.5
# "About one core": the busiest process's median CPU in the work phase. A GIL-bound process sits
# at ~100 %; native code between Python calls (torch kernels release the GIL) adds some.
GIL_ONE_CORE_MAX_PCT = 150.0

# --- OVERSUBSCRIBED --------------------------------------------------------------------------
# Runnable threads per usable core (median over the work phase) above which threads queue for
# cores: two per core means each runs half the time at best.
OVERSUB_THREADS_PER_CORE = 2.0
# Involuntary context switches per second per usable core: the scheduler preempting runnable
# threads at the end of their slice. A thread alone on its core sees a handful a second; a run
# queue of two or more gives hundreds. (GIL hand-offs are voluntary switches and do not count.)
OVERSUB_INVOL_PER_CORE_S = 50.0
# Throughput of the unlimited-threads run below this fraction of the thread-limited run of the
# same strategy (and start method) is the slowdown oversubscription costs.
OVERSUB_SLOWDOWN = 0.9

# --- SPIN_WAIT -------------------------------------------------------------------------------
# CPU use (share of capacity, work phase) that counts as "the cores look busy".
SPIN_MIN_CPU_SHARE = 0.5
# CPU core-seconds per completed trial at least this many times the sequential run's: the extra
# CPU did no useful work (OpenMP helper threads spinning at barriers, busy-wait loops).
SPIN_CPU_PER_TRIAL_RATIO = 2.0

# --- UNDERSUBSCRIBED -------------------------------------------------------------------------
# Mean CPU use of capacity in the work phase below which a parallel run leaves cores idle.
UNDER_CPU_SHARE_MAX = 0.6

# --- CONTENDED ---------------------------------------------------------------------------------
# Mean share of the usable cores kept busy by processes outside the run's tree while its trials
# ran (machine-wide per-core use minus the tree's CPU; the probes' own CPU counts too, a few %).
# A quarter of the machine taken by others skews every ratio measured in the run.
CONTENDED_SHARE_MIN = 0.25

# --- STALLED ---------------------------------------------------------------------------------
# No progress event (heartbeat, trial start or end) for at least this long: never shorter, so
# that probe jitter and ordinary slow generations are not called stalls.
STALL_MIN_GAP_S = 30.0
# ... and at least this many median trial durations (an objective that never beats has gaps of
# one trial; three in a row without any trial ending is not normal).
STALL_GAP_FACTOR = 3.0

# --- STARTUP_DOMINATED -----------------------------------------------------------------------
# Share of the run's wall spent before the first trial started (spawning workers, imports,
# Ray start) from which the run measures start-up more than the search.
STARTUP_SHARE_MIN = 0.25
# Start-up shorter than this is not worth a finding whatever its share.
STARTUP_MIN_S = 1.0

# --- DISPATCH_OVERHEAD -----------------------------------------------------------------------
# Median idle gap between one worker's consecutive trials (ask, send, receive, tell) relative to
# the median trial duration from which dispatch eats a visible share of each worker's time.
DISPATCH_RATIO_MIN = 0.2
# Gaps below this are timer and scheduling jitter whatever the ratio; a millisecond is already
# a pipe round trip plus an Optuna ask/tell.
DISPATCH_MIN_S = 0.001

# --- efficiency --------------------------------------------------------------------------------
# Useful efficiency (speedup / workers, from completed trials per second) a run needs for
# HEALTHY; below it some other finding should say why.
HEALTHY_MIN_EFFICIENCY = 0.7
# Below this useful efficiency a finding that explains it is an error, not a warning.
LOW_EFFICIENCY = 0.5
