"""Optuna pieces strategies share: the sampler by name, the journal storage by path or URL."""

from __future__ import annotations

from typing import Any


def make_sampler(name: str, seed: int | None) -> Any:
    """`tpe` or `random`, seeded."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


JOURNAL_LOCK_GRACE_S = 3  # Optuna warns below 3 s


def open_storage(url_or_path: str) -> Any:
    """An RDB URL as it is (SQLAlchemy creates one engine per process), or a journal file path."""
    if "://" in url_or_path:
        return url_or_path
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    # A worker killed (trial timeout, crash, run deadline) while it holds the journal's lock
    # leaves the lock behind; with Optuna's default 30 s grace every other process stalls that
    # long. Journal writes take milliseconds, so a lock older than this is a dead holder's.
    lock = JournalFileSymlinkLock(url_or_path, grace_period=JOURNAL_LOCK_GRACE_S)
    return JournalStorage(JournalFileBackend(url_or_path, lock_obj=lock))
