"""The waiters' timeouts ``slow_callback`` reads (agents/detectors/slow_callback.py
``waited_on``), table-driven on the exit reasons as the node sends them: which process was
waited on, with which request and timeout, through which API — and the reasons that are no
waiter's timeout."""

from __future__ import annotations

import pytest

from elixir_scope.agents.detectors.slow_callback import waited_on
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Pid

A = Atom
TASK_PID = Pid(A("n@h"), 120, 0, 1)
TASK = {A("__struct__"): A("Elixir.Task"), A("pid"): TASK_PID, A("owner"): Pid(A("n@h"), 99, 0, 1),
        A("ref"): None, A("mfa"): (A("erlang"), A("apply"), 2)}


@pytest.mark.parametrize("reason, expected", [
    # GenServer.call / Agent.get (built on it)
    ((A("timeout"), (A("Elixir.GenServer"), A("call"), [A("Elixir.Shop"), (A("get"), b"x"), 300])),
     (A("Elixir.Shop"), (A("get"), b"x"), 300, "GenServer.call")),
    # :gen_statem.call, wrapped as a caught exit
    ((A("exit"), (A("timeout"), (A("gen_statem"), A("call"), [A("Elixir.Thermo"), A("reading"), 200]))),
     (A("Elixir.Thermo"), A("reading"), 200, "gen_statem.call")),
    # Task.await: the task's process, no request
    ((A("timeout"), (A("Elixir.Task"), A("await"), [TASK, 250])), (TASK_PID, None, 250, "Task.await")),
    ((A("exit"), (A("timeout"), (A("Elixir.Task"), A("await"), [TASK, 250]))), (TASK_PID, None, 250, "Task.await")),
])
def test_a_waiters_timeout_names_what_it_waited_on(reason, expected):
    assert waited_on(reason) == expected


@pytest.mark.parametrize("reason", [
    (A("noproc"), (A("Elixir.GenServer"), A("call"), [A("Elixir.Shop"), A("get"), 300])),   # not a timeout
    (A("timeout"), (A("Elixir.Task"), A("await"), [A("not_a_task"), 250])),                  # no pid to blame
    A("timeout"),
    (A("badarg"), []),
])
def test_other_reasons_are_no_waiters_timeout(reason):
    assert waited_on(reason) is None
