"""One error hierarchy; each error carries the exit code `main` returns for it."""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error corebench reports to the user as one line."""

    exit_code = 2


class ConfigError(BenchError):
    """Bad flags, config file or values; nothing has started yet."""


class StrategyUnavailable(BenchError):
    """A strategy cannot run here (missing package, unsupported platform)."""


class ObjectiveError(ConfigError):
    """`--objective` cannot be imported or is not callable."""


class StorageError(BenchError):
    """The study's storage (a database server, a journal file) cannot be reached, or failed."""

    exit_code = 1


class ResultsError(BenchError):
    """A results directory is missing, unreadable or of another schema version."""


class ResultsWriteFailed(BenchError):
    """The results directory could not be written mid-run (disk full, removed, read-only); the
    run stopped, what was recorded before stays readable."""

    exit_code = 1


class ProbeError(BenchError):
    """A probe cannot watch its target (no such process, not permitted)."""


class GateFailed(BenchError):
    """The regression gate found a regression."""

    exit_code = 1


class GateNothingChecked(ConfigError):
    """The gate's rules matched no run of the results: nothing was checked, so it cannot pass."""


class Interrupted(BenchError):
    """The run was stopped by a signal; results so far are on disk."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; results so far are on disk")
        self.signum = signum
        self.exit_code = 128 + signum
