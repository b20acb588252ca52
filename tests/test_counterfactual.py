"""Counterfactual replay on a real recording of the ``corrupted_state`` app, on its live node.

The answer is known in each direction: the weekly digest crashes because the second profile
cast wrote ``email: nil`` — without that cast the digest works (confirmed); without the first,
harmless cast it still crashes the same way (refuted). A suspect that is the failure itself,
and a recording whose failure needs more than the process's own state, are undetermined.
"""

from __future__ import annotations

import json

import pytest

from elixir_scope.instrument.counterfactual import (
    CounterfactualVerdict,
    counterfactual,
    counterfactual_from_recording,
    find_suspect,
)
from elixir_scope.instrument.dist import Node, RpcError
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.replay import Callback, Invocation, Outcome, ReplayInputError
from elixir_scope.instrument.replay_recording import recorded_run
from elixir_scope.store import EventKind, TraceStore
from support.corrupted_recording import record_crash, start_corrupted_state

A = Atom
BAD_CAST = (A("update_profile"), 2, {A("email"): A("nil")})


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    node = start_corrupted_state()
    path = tmp_path_factory.mktemp("cf") / "trace.db"
    try:
        rid = record_crash(node, path)
        store = TraceStore.open(path)
        try:
            yield node, store.recording(rid), store
        finally:
            store.close()
    finally:
        node.stop()


def event_of(run, message) -> int:
    inv = next(i for i in run.invocations if i.message == message)
    return int(inv.source.split()[1])


async def test_confirmed_and_refuted_on_the_recording(traced):
    node, rec, _ = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    async with Node() as n:
        conn = await n.connect(node.name, cookie=node.cookie)
        confirmed = await counterfactual_from_recording(conn, rec, "CorruptedState.Accounts",
                                                        event_of(run, BAD_CAST))
        assert confirmed.verdict is CounterfactualVerdict.CONFIRMED, confirmed.reason
        assert confirmed.suspect.message == BAD_CAST and confirmed.suspect_index == 1
        assert confirmed.failure.index == 4 and confirmed.failure.outcome.reason is A("function_clause")
        assert confirmed.without_suspect.failure is None
        assert len(confirmed.without_suspect.steps) == 4
        # the digest's reply without the cast: every e-mail lower-cased, bob's included
        reply = confirmed.without_suspect.steps[-1].reply
        assert reply[0] is A("ok") and b"bob@example.com" in reply[1]
        assert confirmed.source == run.description

        first_cast = (A("update_profile"), 1, {A("name"): b"Ada L."})
        refuted = await counterfactual_from_recording(conn, rec, "CorruptedState.Accounts",
                                                      event_of(run, first_cast))
        assert refuted.verdict is CounterfactualVerdict.REFUTED, refuted.reason
        assert refuted.without_suspect.failure.invocation.message is A("weekly_digest")
        assert "same way" in refuted.reason

        text = confirmed.describe()
        assert text.startswith("counterfactual: confirmed")
        assert "without the suspect:" in text and "update_profile" in text
        data = confirmed.as_dict()
        assert data["verdict"] == "confirmed" and data["failure_without_suspect"] is None
        assert data["failure_with_suspect"]["callback"] == "handle_call"


async def test_the_suspect_as_a_received_message(traced):
    node, rec, _ = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    crashed_pid = run.process.split()[0]
    receives = rec.events(kind=EventKind.RECEIVE, pid=crashed_pid, limit=50)
    gen_cast = next(e for e in receives if e.payload == (A("$gen_cast"), BAD_CAST))
    assert find_suspect(rec, run, gen_cast.id) == 1
    # the state change the cast made (what a diagnosis cites) stands for the cast
    bad_call = int(run.invocations[1].source.split()[1])
    after = [e for e in rec.events(kind=EventKind.STATE, pid=crashed_pid, limit=50) if e.id > bad_call]
    assert find_suspect(rec, run, after[0].id) == 1
    # an event of another process is not one of the callbacks
    successor = next(p for p in rec.resolve_processes("CorruptedState.Accounts") if p.pid_text != crashed_pid)
    other = next(iter(rec.events(pid=successor.pid_text, limit=1)))
    with pytest.raises(ReplayInputError, match="not one of the replayed callbacks"):
        find_suspect(rec, run, other.id)
    with pytest.raises(ReplayInputError, match="no event 999999"):
        find_suspect(rec, run, 999_999)


async def test_undetermined_cases_say_why(traced):
    node, rec, _ = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    async with Node() as n:
        conn = await n.connect(node.name, cookie=node.cookie)
        itself = await counterfactual(conn, run.module, run.initial_state, run.invocations, 4)
        assert itself.verdict is CounterfactualVerdict.UNDETERMINED
        assert "failing invocation itself" in itself.reason

        # a state in which the digest works: the recorded crash is not reproduced
        clean = dict(run.initial_state)
        good = [Invocation(Callback.CALL, A("weekly_digest"),
                           recorded=Outcome.exception("error", A("function_clause")), source="event 1")]
        fixed = await counterfactual(conn, run.module, clean, [Invocation(Callback.CALL, (A("get"), 1))] + good, 0)
        assert fixed.verdict is CounterfactualVerdict.UNDETERMINED
        assert "does not fail" in fixed.reason and fixed.without_suspect is None

        gone = await counterfactual(conn, "CorruptedState.NoSuchModule", run.initial_state, run.invocations, 1)
        assert gone.verdict is CounterfactualVerdict.UNDETERMINED and "not available" in gone.reason
        # the name a user typed did not become an atom on the target
        with pytest.raises(RpcError):
            await conn.rpc("erlang", "binary_to_existing_atom", [b"Elixir.CorruptedState.NoSuchModule", A("utf8")])

        with pytest.raises(ReplayInputError, match="out of range"):
            await counterfactual(conn, run.module, run.initial_state, run.invocations, 9)


async def test_the_model_can_ask_for_a_counterfactual(traced):
    from elixir_scope.agents.evidence_tools import StoreEvidenceTools

    node, rec, store = traced
    run = recorded_run(rec, "CorruptedState.Accounts")
    assert "replay_without" not in {d["name"] for d in StoreEvidenceTools(store, rec.id).definitions()}
    async with Node() as n:
        conn = await n.connect(node.name, cookie=node.cookie)
        # a connection alone is not consent: replay runs code on the node
        assert "replay_without" not in {d["name"] for d in StoreEvidenceTools(store, rec.id, conn=conn).definitions()}
        tools = StoreEvidenceTools(store, rec.id, conn=conn, allow_replay=True)
        assert "replay_without" in {d["name"] for d in tools.definitions()}
        got = json.loads(await tools.call("replay_without", {"process": run.process.split()[0],
                                                             "suspect_event": event_of(run, BAD_CAST)}))
        assert got["verdict"] == "confirmed" and got["failure_without_suspect"] is None
        with pytest.raises(ReplayInputError, match="not one of the replayed callbacks|no event"):
            await tools.call("replay_without", {"process": "CorruptedState.Accounts", "suspect_event": 999_999})
