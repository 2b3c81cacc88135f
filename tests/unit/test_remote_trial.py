"""The define-by-run channel: a worker's trial whose every call is made on the parent's trial,
over a real socket to a real TrialServer in this process, and the checks on what an objective
returns."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from bench.errors import ObjectiveError
from bench.trial.execute import (
    COMPLETE,
    FAILED,
    PRUNED,
    BadObjectiveValue,
    ObjectiveAborted,
    Outcome,
    as_value,
    call_objective,
)
from bench.trial.remote import RemoteTrial, serving
from bench.workload.objective import absolute_ref, load_user_objective


@pytest.fixture
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def test_every_call_is_made_on_the_parents_trial(study: optuna.Study) -> None:
    live = study.ask()
    with serving(lambda n: live if n == live.number else None) as server:
        remote = RemoteTrial(server.channel, live.number)
        opt = remote.suggest_categorical("opt", ["adam", "sgd"])
        lr = remote.suggest_float("lr", 1e-4, 1.0, log=True)
        layers = remote.suggest_int("layers", 1, 4)
        remote.report(0.5, 1)
        assert remote.should_prune() is False
        remote.set_user_attr("note", "hi")
        assert remote.params == live.params == {"opt": opt, "lr": lr, "layers": layers}
        assert live.distributions["lr"] == optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)
        assert remote.user_attrs == {"note": "hi"}
        # The parent's trial checks the call: a name reused with another range is its ValueError.
        with pytest.raises(ValueError, match="suggest_float"):
            remote.suggest_float("lr", 0.0, 2.0)
        # A trial the parent no longer runs (told, cancelled) is refused, not answered.
        with pytest.raises(RuntimeError, match="no longer running"):
            RemoteTrial(server.channel, live.number + 1).suggest_float("x", 0.0, 1.0)
    study.tell(live, 1.0)
    assert study.trials[0].params == {"opt": opt, "lr": lr, "layers": layers}


def test_the_parents_pruner_decides(study: optuna.Study) -> None:
    pruned = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    live = pruned.ask()
    with serving(lambda n: live) as server:
        remote = RemoteTrial(server.channel, live.number)
        remote.report(0.5, 0)
        assert remote.should_prune() is False
        remote.report(5.0, 1)
        assert remote.should_prune() is True


def test_the_worker_sees_the_parent_gone(study: optuna.Study) -> None:
    live = study.ask()
    with serving(lambda n: live) as server:
        channel = server.channel
    with pytest.raises((RuntimeError, OSError)):
        RemoteTrial(channel, live.number).suggest_float("x", 0.0, 1.0)


@pytest.mark.parametrize(("returned", "message"), [
    (None, "returned None"), ("1.5", "returned a str"), ((1.0, 2.0), "tuple of 2 values"),
    ([1.0], "list of 1 values"), (object(), "returned a object"),
])
def test_what_is_not_one_number_is_refused(returned: Any, message: str) -> None:
    with pytest.raises(BadObjectiveValue, match=message):
        as_value(returned)


def test_numbers_of_any_kind_are_values() -> None:
    import numpy as np

    assert as_value(np.float32(0.5)) == 0.5 and as_value(3) == 3.0 and math.isnan(as_value(math.nan))


@pytest.mark.parametrize(("raise_", "state", "text"), [
    (lambda: sys.exit(4), FAILED, "objective called sys.exit(4)"),
    (lambda: (_ for _ in ()).throw(KeyboardInterrupt()), FAILED, "objective raised KeyboardInterrupt"),
    (lambda: (_ for _ in ()).throw(optuna.TrialPruned()), PRUNED, None),
])
def test_base_exceptions_of_the_objective_are_its_failures(raise_: Any, state: str, text: Any) -> None:
    outcome = Outcome()

    def fn(trial: Any) -> float:
        raise_()
        return 0.0

    with pytest.raises((ObjectiveAborted, optuna.TrialPruned)):
        call_objective(fn, None, outcome)
    assert outcome.state == state and (text is None or text in str(outcome.error))
    assert outcome.state != COMPLETE


def test_objective_from_a_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sib.py").write_text("K = 3\n")
    (tmp_path / "obj_in_file_x.py").write_text("from sib import K\ndef f(trial):\n    return K\n")
    monkeypatch.chdir(tmp_path.parent)
    ref = absolute_ref(f"{tmp_path.name}/obj_in_file_x.py:f")
    assert ref == f"{tmp_path}/obj_in_file_x.py:f"
    monkeypatch.chdir("/")  # a worker started elsewhere still finds it
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert load_user_objective(ref)(None) == 3
    assert absolute_ref("pkg.mod:fn") == "pkg.mod:fn"
    with pytest.raises(ObjectiveError, match="is not a .py file"):
        load_user_objective(f"{tmp_path}/missing.py:f")


def test_a_closed_server_never_answers_for_the_next_one(study: optuna.Study) -> None:
    """Servers opened one after another in one process (one per strategy run), with signals
    arriving as joblib-loky's periodic SIGALRM sends them: a closed server's accept thread,
    woken by a signal, retries accept() on its old fd number, which is by then the next server's
    socket, and answers its clients with the old key ("digest sent was rejected")."""
    import signal

    from bench.trial import remote

    old = signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
    try:
        for _ in range(3):
            with serving(lambda n: None):
                pass  # closed with no client ever
        live = study.ask()
        with serving(lambda n: live) as server:
            for _ in range(20):  # a new connection each time: each one goes through accept()
                remote._forget(server.channel)
                value = RemoteTrial(server.channel, live.number).suggest_float("x", 0.0, 1.0)
                assert 0.0 <= value <= 1.0
            remote._forget(server.channel)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_close_does_not_wait_for_an_accept_thread_that_already_left() -> None:
    """The accept thread may see the server closing and leave before close()'s wake-up call
    reaches it; close() must not then wait for a handshake nobody will answer (it hung the suite
    once, in this file's test above)."""
    import socket
    import threading

    from bench.trial.remote import TrialServer

    server = TrialServer(lambda n: None)
    server._closed.set()
    # A connection that fails the key check ends the thread's accept(); it sees the server
    # closing and leaves, before close() has sent anything.
    with socket.socket(socket.AF_UNIX) as stray:
        stray.connect(server.channel.address)
    server._thread.join(timeout=5.0)
    assert not server._thread.is_alive()
    closer = threading.Thread(target=server.close, daemon=True)
    closer.start()
    closer.join(timeout=5.0)
    assert not closer.is_alive(), "close() hung on a server whose accept thread had left"
