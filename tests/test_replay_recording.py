"""Recording → replay → ExUnit, on a real trace of the real ``corrupted_state`` app.

The trace is taken with the BEAM's own trace BIFs (``erlang:trace_pattern`` with
``return_trace``/``exception_trace`` and a local collector process) while the scenario's
trigger runs, converted record by record into the agent's batch format
(``store.batch.BatchBuilder``, docs/event-format.md) and ingested into a real ``TraceStore``.
Then ``recorded_run`` pairs the callbacks, ``replay_run`` re-runs them on the node, and the
generated ExUnit test fails with the recorded error.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import REPO, start_node  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom  # noqa: E402
from elixir_scope.instrument.exunit import generate_test, run_test  # noqa: E402
from elixir_scope.instrument.replay import Callback, ReplayInputError, Verdict  # noqa: E402
from elixir_scope.instrument.replay_recording import recorded_run, replay_run  # noqa: E402
from elixir_scope.store import EventKind, TraceStore  # noqa: E402
from elixir_scope.store.batch import BatchBuilder  # noqa: E402

A = Atom
APP = [REPO / "examples" / "corrupted_state" / "lib" / "corrupted_state.ex"]

# Trace CorruptedState.Accounts (all its functions, with return values and exceptions) into a
# local collector, run the scenario's trigger, and hand back the collected trace messages.
TRACE = b"""
server = Process.whereis(CorruptedState.Accounts)
me = self()
collector = spawn(fn ->
  loop = fn loop, acc ->
    receive do
      {:give, to} -> send(to, {:trace_log, Enum.reverse(acc)})
      msg -> loop.(loop, [msg | acc])
    end
  end
  loop.(loop, [])
end)
:erlang.trace_pattern({CorruptedState.Accounts, :_, :_},
  [{:_, [], [{:return_trace}, {:exception_trace}]}], [:local])
:erlang.trace(server, true, [:call, {:tracer, collector}])
CorruptedState.trigger()
Process.sleep(300)
:erlang.trace_pattern({CorruptedState.Accounts, :_, :_}, false, [:local])
send(collector, {:give, me})
receive do
  {:trace_log, log} -> {server, log}
after 5_000 -> raise "no trace log"
end
"""


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(node, conn-maker, store, recording) — a live app and a stored trace of its crash."""
    node = start_node("elixir", elixir_files=APP, eval_code="{:ok, _} = CorruptedState.start()")

    async def take():
        async with Node() as n:
            conn = await n.connect(node.name, cookie=node.cookie)
            (server, log), _ = await conn.rpc("Elixir.Code", "eval_string", [TRACE], timeout=30)
            return server, log

    server, log = asyncio.run(take())
    store = TraceStore.open(tmp_path_factory.mktemp("rec") / "trace.db")
    writer = store.create_recording("corrupted_state", spec={"trace": ["CorruptedState.Accounts"]}, limits={})
    node_id = writer.add_node(node.name, otp_release="25", time_unit=1_000_000_000, time_offset=0)
    b = BatchBuilder(node.name)
    pidx = b.pid(server, A("Elixir.CorruptedState.Accounts"))
    kinds = {A("call"): EventKind.CALL, A("return_from"): EventKind.RETURN, A("exception_from"): EventKind.EXCEPTION}
    for msg in log:
        kind = kinds[msg[2]]
        if kind is EventKind.CALL:
            m, f, args = msg[3]
            b.add(kind, pidx, b.mfa((m, f, len(args))), args)
        else:
            b.add(kind, pidx, b.mfa(msg[3]), msg[4])
    batch = b.take()
    writer.ingest_batch(node_id, batch.dict_entries, batch.events)
    writer.finish("stopped")
    rec = store.recording(writer.id)
    yield node, rec
    store.close()
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

    tail = recorded_run(rec, "CorruptedState.Accounts", last=2)
    assert [i.message for i in tail.invocations] == [(A("get"), 3), A("weekly_digest")]
    # the initial state of a shorter window already carries the corruption
    assert tail.initial_state[A("users")][2][A("email")] is A("nil")
    with pytest.raises(ReplayInputError, match="last must be"):
        recorded_run(rec, "CorruptedState.Accounts", last=0)
    with pytest.raises(ReplayInputError, match="no GenServer callbacks"):
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

        # hypothesis: the update_profile cast is the cause — drop it and the digest works
        without = [i for i in run.invocations if i.message != (A("update_profile"), 2, {A("email"): A("nil")})]
        refuted = await replay_run(conn, type(run)(**{**run.__dict__, "invocations": without}))
        assert refuted.verdict is Verdict.DIVERGED and refuted.failure is None

    source = generate_test(run.module, run.initial_state, run.invocations, description=run.description)
    assert f"# Source: recording {rec.id}, process" in source
    ex = run_test(source, app_files=APP, expected=run.failure.recorded)
    assert ex.fails_as_recorded, ex.output
