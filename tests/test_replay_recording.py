"""Recording → replay → ExUnit, on a real capture of the real ``corrupted_state`` app.

ElixirScope's own capture (the tracer agent on the node, ``instrument.session.capture``,
through ``support.corrupted_recording``, which the replay tool tests share) records the state history of ``CorruptedState.Accounts`` while the scenario's trigger runs
into a real ``TraceStore``. Then ``recorded_run`` pairs the callbacks, ``replay_run`` re-runs
them on the node, and the generated ExUnit test fails with the recorded error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.corrupted_recording import APP_FILES, record_crash, start_corrupted_state  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom  # noqa: E402
from elixir_scope.instrument.exunit import generate_test, run_test  # noqa: E402
from elixir_scope.instrument.replay import Callback, ReplayInputError, Verdict  # noqa: E402
from elixir_scope.instrument.replay_recording import recorded_run, replay_run  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402
from elixir_scope.store.timetravel import state_at  # noqa: E402

A = Atom
APP = APP_FILES


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(node, recording) — the live app, and a capture of its state history through the crash."""
    node = start_corrupted_state()
    path = tmp_path_factory.mktemp("rec") / "trace.db"
    try:
        rid = record_crash(node, path)
        store = TraceStore.open(path)
        try:
            yield node, store.recording(rid)
        finally:
            store.close()
    finally:
        node.stop()


def test_recorded_run_pairs_callbacks_and_outcomes(traced):
    _, rec = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    assert run.module is A("Elixir.CorruptedState.Accounts")
    # CorruptedState.trigger/0: 2 casts, add_user, get, weekly_digest (crashes)
    assert [i.callback for i in run.invocations] == [
        Callback.CAST, Callback.CAST, Callback.CALL, Callback.CALL, Callback.CALL]
    assert run.invocations[1].message == (A("update_profile"), 2, {A("email"): A("nil")})
    assert run.initial_state[A("users")][2][A("email")] == b"bob@example.com"
    failure = run.failure
    assert failure is run.invocations[-1] and failure.message is A("weekly_digest")
    assert failure.recorded.error_class is A("error") and failure.recorded.reason is A("function_clause")
    assert run.unfinished == [] and run.gaps == []
    # the name held by the crashed server and by its restarted successor: the crashed one is meant
    assert len(rec.resolve_processes("CorruptedState.Accounts")) == 2
    restarted = next(p for p in rec.resolve_processes("CorruptedState.Accounts")
                     if p.pid_text != run.process.split()[0])
    fresh = recorded_run(rec, restarted.pid_text)
    assert [i.callback for i in fresh.invocations] == [Callback.INIT] and fresh.failure is None

    tail = recorded_run(rec, "CorruptedState.Accounts", last=2)
    assert [i.message for i in tail.invocations] == [(A("get"), 3), A("weekly_digest")]
    # the initial state of a shorter window already carries the corruption
    assert tail.initial_state[A("users")][2][A("email")] is A("nil")
    with pytest.raises(ReplayInputError, match="last must be"):
        recorded_run(rec, "CorruptedState.Accounts", last=0)
    crashed_pid = run.process.split()[0]
    with pytest.raises(ReplayInputError, match="no GenServer callbacks"):
        recorded_run(rec, crashed_pid, until_event=run.first_event_id - 1)
    with pytest.raises(ReplayInputError, match="names 2 processes .* 0 of them crashed"):
        recorded_run(rec, "CorruptedState.Accounts", until_event=run.first_event_id - 1)


async def test_recording_replays_and_becomes_a_failing_exunit_test(traced):
    node, rec = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    async with Node() as n:
        conn = await n.connect(node.name, cookie=node.cookie)
        result = await replay_run(conn, run)
        # every recorded return value and the crash match, step for step
        assert result.verdict is Verdict.REPRODUCED, [(s.status, s.matches_recorded) for s in result.steps]
        assert all(s.matches_recorded for s in result.steps)
        assert result.failure.index == 4
        # replay and time travel agree: the state the digest was called with, both ways
        digest_call = rec.event(int(run.invocations[4].source.split()[1]))
        at = state_at(rec, run.process.split()[0], digest_call)
        assert at.state == result.steps[3].state_after
        assert at.state[A("users")][2][A("email")] is A("nil")

        # hypothesis: the update_profile cast is the cause — drop it and the digest works
        without = [i for i in run.invocations if i.message != (A("update_profile"), 2, {A("email"): A("nil")})]
        refuted = await replay_run(conn, type(run)(**{**run.__dict__, "invocations": without}))
        assert refuted.verdict is Verdict.DIVERGED and refuted.failure is None

    source = generate_test(run.module, run.initial_state, run.invocations, description=run.description)
    assert f"# Source: recording {rec.id}, process" in source
    ex = run_test(source, app_files=APP, expected=run.failure.recorded)
    assert ex.fails_as_recorded, ex.output
