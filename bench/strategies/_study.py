"""Optuna pieces strategies share: the sampler by name, the journal storage by path or URL."""

from __future__ import annotations

from typing import Any


def make_sampler(name: str, seed: int | None) -> Any:
    """`tpe` or `random`, seeded."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str) -> Any:
    """`median`, `hyperband` or `none` (Optuna's NopPruner: should_prune is always False)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


JOURNAL_LOCK_GRACE_S = 3  # Optuna warns below 3 s


def open_storage(url_or_path: str | None) -> Any:
    """The storage of an RDB URL (one SQLAlchemy engine per process), of a journal file path, or
    in memory (None); its calls timed per thread (bench.strategies._storage_time)."""
    from optuna.storages import InMemoryStorage, JournalStorage, get_storage

    from bench.strategies._storage_time import timed

    if not url_or_path:
        return timed(InMemoryStorage())
    if "://" in url_or_path:
        return timed(get_storage(url_or_path))
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    # A worker killed (trial timeout, crash, run deadline) while it holds the journal's lock
    # leaves the lock behind; with Optuna's default 30 s grace every other process stalls that
    # long. Journal writes take milliseconds, so a lock older than this is a dead holder's.
    lock = JournalFileSymlinkLock(url_or_path, grace_period=JOURNAL_LOCK_GRACE_S)
    return timed(JournalStorage(JournalFileBackend(url_or_path, lock_obj=lock)))


def error_text(exc: BaseException) -> str:
    """A storage failure as one line: no password, no newline, no pointer to SQLAlchemy's docs."""
    from bench.trial.execute import ERROR_MAX_CHARS
    from probes.redact import redact_arg

    text = f"{type(exc).__name__}: {exc}".split("(Background on this error at:")[0]
    text = " ".join(redact_arg(text).split())
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


def connect(url_or_path: str | None) -> Any:
    """`open_storage` for a run's own study: a URL that is wrong is a ConfigError, a server that
    does not answer a StorageError, each one line without the password."""
    from bench.errors import ConfigError, StorageError
    from probes.redact import redact_arg

    try:
        return open_storage(url_or_path)
    except Exception as exc:
        where = redact_arg(str(url_or_path))
        if _transient(exc):
            raise StorageError(f"cannot reach the storage {where}: {error_text(exc)}") from None
        raise ConfigError(f"cannot open the storage {where}: {error_text(exc)}") from None


# Processes that start together race to create the RDB tables and the study; the loser of that
# race gets an integrity or "already exists" error and simply loads what the winner made.
JOIN_ATTEMPTS = 5


def _transient(exc: Exception) -> bool:
    """A lost creation race or a busy database (sqlalchemy's, named so sqlalchemy stays unimported
    for journal files), not a bad URL or a missing driver."""
    kind = type(exc)
    return kind.__module__.startswith("sqlalchemy") and kind.__name__ in ("OperationalError", "IntegrityError")


def join_study(
    url_or_path: str, study_name: str, direction: str, sampler: Any, pruner: Any = None,
) -> Any:
    """Load study `study_name` from a shared storage, creating it if no process has yet; the study
    must optimize in `direction` (a study made for another objective is refused, not reused)."""
    import time

    import optuna

    from bench.errors import ConfigError, StorageError
    from probes.redact import redact

    where = redact(url_or_path)  # no database password in a message
    last: Exception | None = None
    for attempt in range(JOIN_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=open_storage(url_or_path), study_name=study_name, sampler=sampler,
                pruner=pruner, direction=direction, load_if_exists=True,  # type: ignore[arg-type]
            )
            break
        except (optuna.exceptions.StorageInternalError, optuna.exceptions.DuplicatedStudyError) as exc:
            last = exc
        except Exception as exc:
            if not _transient(exc):
                raise ConfigError(f"cannot open study {study_name!r} in {where}: {error_text(exc)}") from None
            last = exc
        time.sleep(0.2 * (attempt + 1))
    else:
        raise StorageError(
            f"cannot open study {study_name!r} in {where} after {JOIN_ATTEMPTS} tries: "
            f"{error_text(last) if last else 'no answer'}"
        ) from None
    theirs = study.direction.name.lower()
    if theirs != direction:
        raise ConfigError(
            f"study {study_name!r} in {where} is set to {theirs}, this run to {direction}: "
            "use another --study-name (or --direction, if the objective really is the same)"
        )
    return study
