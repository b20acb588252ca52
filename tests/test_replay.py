"""Replay on real nodes: recorded callbacks re-run in a scratch process, never the live one.

Elixir: the ``corrupted_state`` and ``slow_callback`` example apps (their live state is read
with ``:sys.get_state`` — the same term a recording's state checkpoint holds). Erlang: a small
gen_server compiled with ``erlc`` into a temporary directory and run on an OTP 25 node and on
the bare OTP 28 runtime (no ``compiler`` application: the driver needs only stdlib).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import REPO, start_node  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom, Pid  # noqa: E402
from elixir_scope.instrument.replay import (  # noqa: E402
    Callback,
    Invocation,
    Outcome,
    ReplayInputError,
    ReplayRemoteError,
    StepStatus,
    Verdict,
    replay,
    same_term,
)

A = Atom
NIL = A("nil")
ACCOUNTS = A("Elixir.CorruptedState.Accounts")
EX = REPO / "examples"


def elixir_app(name: str, files: list[str], start: str):
    return start_node("elixir", elixir_files=[EX / name / f for f in files], eval_code=f"{{:ok, _}} = {start}")


@pytest.fixture(scope="module")
def accounts_node():
    node = elixir_app("corrupted_state", ["lib/corrupted_state.ex"], "CorruptedState.start()")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def reports_node():
    node = elixir_app("slow_callback", ["lib/slow_callback.ex"], "SlowCallback.start()")
    yield node
    node.stop()


@pytest.fixture
async def connect():
    async with Node() as n:
        async def to(beam):
            return await n.connect(beam.name, cookie=beam.cookie)
        yield to


def bad_update():
    return Invocation(Callback.CAST, (A("update_profile"), 2, {A("email"): NIL}), source="event 7")


DIGEST_CRASH = Outcome.exception("error", A("function_clause"))


async def test_state_plus_message_reproduces_the_crash(accounts_node, connect):
    conn = await connect(accounts_node)
    live_pid = await conn.rpc("erlang", "whereis", [ACCOUNTS])
    state = await conn.rpc("sys", "get_state", [ACCOUNTS])

    result = await replay(conn, "CorruptedState.Accounts", state, [
        bad_update(),
        Invocation(Callback.CALL, (A("get"), 3)),
        Invocation(Callback.CALL, A("weekly_digest"), recorded=DIGEST_CRASH),
        Invocation(Callback.CALL, (A("get"), 1)),
    ])

    assert result.verdict is Verdict.REPRODUCED
    assert [s.status for s in result.steps] == [
        StepStatus.CONTINUED, StepStatus.CONTINUED, StepStatus.CRASHED, StepStatus.NOT_RUN]
    # the corrupting transition is visible in the state after step 0
    assert result.steps[0].state_after[A("users")][2][A("email")] is NIL
    assert state[A("users")][2][A("email")] == b"bob@example.com"
    assert result.steps[1].reply == (A("ok"), {A("email"): b"CY@example.com", A("name"): b"Cy"})
    failure = result.failure
    assert failure.index == 2
    assert failure.outcome.error_class is A("error") and failure.outcome.reason is A("function_clause")
    top = failure.outcome.stacktrace[0]
    assert top[:2] == (A("Elixir.String"), A("downcase")) and top[2] == [NIL, A("default")]
    assert all(s.micros is not None and s.micros >= 0 for s in result.steps[:3])

    # the live process was never touched: same pid, same state, still answering
    assert await conn.rpc("erlang", "whereis", [ACCOUNTS]) == live_pid
    assert await conn.rpc("sys", "get_state", [ACCOUNTS]) == state


async def test_without_the_bad_update_the_hypothesis_is_refuted(accounts_node, connect):
    conn = await connect(accounts_node)
    state = await conn.rpc("sys", "get_state", [ACCOUNTS])
    result = await replay(conn, ACCOUNTS, state, [
        Invocation(Callback.CAST, (A("update_profile"), 2, {A("name"): b"Robert"})),
        Invocation(Callback.CALL, A("weekly_digest"), recorded=DIGEST_CRASH),
    ])
    assert result.verdict is Verdict.DIVERGED
    assert result.first_divergence.index == 1
    assert result.failure is None
    assert result.steps[1].reply == (A("ok"), [b"ada@example.com", b"bob@example.com", b"cy@example.com"])


async def test_recorded_return_values_are_compared(accounts_node, connect):
    conn = await connect(accounts_node)
    state = await conn.rpc("sys", "get_state", [ACCOUNTS])
    after = dict(state)
    after[A("version")] = 1
    after[A("users")] = {**state[A("users")], 2: {A("email"): NIL, A("name"): b"Bob"}}
    ok = await replay(conn, ACCOUNTS, state, [
        Invocation(Callback.CAST, (A("update_profile"), 2, {A("email"): NIL}),
                   recorded=Outcome.returned((A("noreply"), after)))])
    assert ok.reproduced and ok.steps[0].matches_recorded is True
    wrong = await replay(conn, ACCOUNTS, state, [
        Invocation(Callback.CAST, (A("update_profile"), 2, {A("email"): b"b@x"}),
                   recorded=Outcome.returned((A("noreply"), after)))])
    assert wrong.verdict is Verdict.DIVERGED and wrong.steps[0].matches_recorded is False


async def test_init_then_calls_and_bad_input(accounts_node, connect):
    conn = await connect(accounts_node)
    users = {1: {A("name"): b"Zed", A("email"): b"ZED@X.ORG"}}
    result = await replay(conn, ACCOUNTS, None, [
        Invocation("init", users), Invocation("handle_call", A("weekly_digest"))])
    assert result.verdict is Verdict.UNVERIFIED
    assert result.steps[1].reply == (A("ok"), [b"zed@x.org"])

    with pytest.raises(ReplayInputError, match="truncated .* max_term_bytes"):
        await replay(conn, ACCOUNTS, {A("users"): A("$truncated")}, [bad_update()])
    with pytest.raises(ReplayInputError, match="init can only be the first"):
        await replay(conn, ACCOUNTS, {}, [bad_update(), Invocation("init", [])])
    with pytest.raises(ReplayInputError, match="unknown callback"):
        Invocation("handle_stuff", 1)
    with pytest.raises(ReplayInputError, match="initial_state is None"):
        await replay(conn, ACCOUNTS, None, [bad_update()])
    with pytest.raises(ReplayInputError, match="redacted"):
        await replay(conn, ACCOUNTS, {A("password"): A("[REDACTED]")}, [bad_update()])
    with pytest.raises(ReplayRemoteError, match="not available"):
        await replay(conn, "CorruptedState.Nope", {}, [bad_update()])
    with pytest.raises(ReplayRemoteError, match="does not export handle_continue/2"):
        await replay(conn, ACCOUNTS, {}, [Invocation(Callback.CONTINUE, A("warm_up"))])


async def test_a_slow_step_times_out_and_leaves_the_live_server_free(reports_node, connect):
    conn = await connect(reports_node)
    reports = A("Elixir.SlowCallback.Reports")
    state = await conn.rpc("sys", "get_state", [reports])
    result = await replay(conn, reports, state, [
        Invocation(Callback.CALL, (A("report"), b"globex")),
        Invocation(Callback.CALL, (A("report"), b"acme")),
        Invocation(Callback.CALL, (A("report"), b"initech")),
    ], step_timeout=0.3)
    assert [s.status for s in result.steps] == [StepStatus.CONTINUED, StepStatus.TIMED_OUT, StepStatus.NOT_RUN]
    assert result.failure.index == 1
    # the scratch process was killed; the real server was never involved and is free
    assert await conn.rpc("sys", "get_state", [reports]) == state
    value, _ = await conn.rpc("Elixir.Code", "eval_string", [b'SlowCallback.Reports.report("globex")'])
    assert value[0] is A("ok")


# --- Erlang nodes ----------------------------------------------------------------------------

ERL_SERVER = r"""
-module(es_replay_counter).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2, handle_info/2]).

start() -> gen_server:start({local, es_replay_counter}, es_replay_counter, 10, []).

init(N) -> erlang:send_after(60000, self(), tick), {ok, N}.

handle_call(get, _From, N) -> {reply, N, N};
handle_call({divide, D}, _From, N) -> {reply, ok, N div D};
handle_call(throw_it, _From, N) -> throw({reply, thrown, N + 1});
handle_call(stop_me, _From, N) -> {stop, normal, stopping, N};
handle_call(whoami, From, N) -> gen_server:reply(From, {me, self()}), {noreply, N}.

handle_cast({add, K}, N) -> {noreply, N + K};
handle_cast(bad, _N) -> oops.

handle_info(tick, N) -> {noreply, N + 1}.
"""


@pytest.fixture(scope="module")
def erl_beam_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("es_replay_erl")
    (d / "es_replay_counter.erl").write_text(ERL_SERVER)
    subprocess.run(["erlc", "-o", str(d), str(d / "es_replay_counter.erl")], check=True)
    return d


COUNTER = A("es_replay_counter")


async def _erlang_checks(conn):
    before = await conn.rpc("sys", "get_state", [COUNTER])
    result = await replay(conn, "es_replay_counter", before, [
        Invocation(Callback.CAST, (A("add"), 5)),
        Invocation(Callback.INFO, A("tick")),
        Invocation(Callback.CALL, A("throw_it")),
        Invocation(Callback.CALL, A("whoami")),
        Invocation(Callback.CALL, (A("divide"), 0), recorded=Outcome.exception("error", A("badarith"))),
    ])
    assert result.reproduced
    assert [s.state_after for s in result.steps[:4]] == [15, 16, 17, 17]
    assert result.steps[2].reply == A("thrown")  # a throw is a return, as in gen_server
    # gen_server:reply/2 inside the callback answered the scratch process, not a real caller
    (tag, (me, scratch_pid)), = result.scratch_messages
    assert me is A("me") and isinstance(scratch_pid, Pid)
    assert scratch_pid != await conn.rpc("erlang", "whereis", [COUNTER])
    assert result.failure.outcome.reason is A("badarith")

    stop = await replay(conn, COUNTER, 1, [Invocation(Callback.CALL, A("stop_me")), Invocation(Callback.CAST, (A("add"), 1))])
    assert [s.status for s in stop.steps] == [StepStatus.STOPPED, StepStatus.NOT_RUN]
    assert stop.steps[0].reply == A("stopping")
    bad = await replay(conn, COUNTER, 1, [Invocation(Callback.CAST, A("bad"))])
    assert bad.steps[0].status is StepStatus.BAD_RETURN and bad.failure is bad.steps[0]

    init = await replay(conn, COUNTER, None, [Invocation(Callback.INIT, 3)])
    assert init.steps[0].state_after == 3
    assert init.scratch_messages == [] and init.scratch_message_count == 0  # the timer has not fired
    assert await conn.rpc("sys", "get_state", [COUNTER]) == before


async def test_erlang_gen_server_on_otp25(erl_beam_dir, connect):
    node = start_node("erl", code_paths=[erl_beam_dir], eval_code="{ok, _} = es_replay_counter:start()")
    try:
        await _erlang_checks(await connect(node))
    finally:
        node.stop()


async def test_erlang_gen_server_on_otp28_without_compiler(erl_beam_dir, connect):
    node = start_node("otp28", code_paths=[erl_beam_dir], eval_code="{ok, _} = es_replay_counter:start()")
    try:
        conn = await connect(node)
        assert await conn.rpc("code", "which", [A("compile")]) == A("non_existing")
        await _erlang_checks(conn)
    finally:
        node.stop()


def test_same_term_rules():
    p1 = Pid(A("a@h"), 1, 0, 1)
    p2 = Pid(A("b@h"), 9, 0, 2)
    assert same_term((A("ok"), p1), (A("ok"), p2))
    assert not same_term((A("ok"), p1), (A("ok"), 1))
    assert same_term({A("s"): A("$truncated")}, {A("s"): [1, 2]})
    assert not same_term(1, 1.0) and not same_term(True, 1)
    assert not same_term({1: 2}, {1: 3})
    assert same_term({p1: 1}, {p2: 1})


async def test_describe_reads_like_a_report(accounts_node, connect):
    conn = await connect(accounts_node)
    state = await conn.rpc("sys", "get_state", [ACCOUNTS])
    result = await replay(conn, ACCOUNTS, state, [
        bad_update(), Invocation(Callback.CALL, A("weekly_digest"), recorded=DIGEST_CRASH)])
    text = result.describe()
    lines = text.splitlines()
    assert lines[0] == "replay of CorruptedState.Accounts: reproduced"
    assert lines[1].startswith("#0 handle_cast({:update_profile, 2, %{email: nil}}) → continued, returned {:noreply, %{")
    assert lines[2].startswith("#1 handle_call(:weekly_digest) → raised error :function_clause in ")
    assert lines[2].endswith("— matches the recording")


def test_agent_truncation_markers_are_wildcards_when_comparing():
    T = A("$truncated")
    assert same_term([1, 2, T], [1, 2, 3, 4])  # a cut list keeps a prefix
    assert not same_term([1, 9, T], [1, 2, 3, 4])
    assert same_term({A("a"): 1, T: 3}, {A("a"): 1, A("b"): 2, A("c"): 3, A("d"): 4})
    assert not same_term({A("a"): 2, T: 3}, {A("a"): 1, A("b"): 2})
    assert same_term((T, b"abc", 999), b"abcdef")


async def test_agent_truncation_markers_are_refused_as_input(accounts_node, connect):
    conn = await connect(accounts_node)
    T = A("$truncated")
    for state, where in [({A("users"): {1: {}, T: 3}}, "dropped entries"), ({A("l"): [1, T]}, r"\[l\]\[1\]")]:
        with pytest.raises(ReplayInputError, match=where):
            await replay(conn, ACCOUNTS, state, [bad_update()])
