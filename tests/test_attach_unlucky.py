"""Attaching to a saturated or unlucky node ends with a clear answer, never a stray exception.

Real nodes, made unlucky with tests/fixtures/erlang/es_hog.erl: untraced busy processes at high
priority on every scheduler (a saturated node: rpcs wait seconds for a scheduler), ``rex`` or
the code server suspended (a node whose rpc or code loading does not answer, deterministically),
a node killed, a newer agent already loaded by another ElixirScope. Waits are parameters
(``AttachTimeouts``) set small here; nothing asserts on how long anything took.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.agent import AttachTimeouts, NewerAgentError, NodeBusyError, ensure_agent
from elixir_scope.instrument.agent.loader import MODULE, agent_source, agent_version, local_beam
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node, NodeDown
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.session import capture
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node

SMALL = AttachTimeouts(rpc=1.0, start=1.0, probe=0.5)


@pytest.fixture
def hog_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


async def _connect(node, dist):
    conn = await dist.connect(node.name, cookie=node.cookie)
    await conn.rpc("code", "ensure_loaded", [Atom("es_hog")])
    return conn


async def _suspend(conn, name: str) -> None:
    """Suspend ``name`` on the node (for at most 60 s); ``_resume`` ends it by a message."""
    assert await conn.rpc("es_hog", "suspend", [Atom(name), 60_000]) == Atom("ok")


async def _resume(conn) -> None:
    await conn.send(Atom("es_hog_suspend"), Atom("resume"))


async def _agent_loaded(conn) -> bool:
    return await conn.rpc("erlang", "module_loaded", [Atom(MODULE)], timeout=30.0) is True


async def _until(check, tries: int = 100):
    """Poll ``check()`` (an awaitable factory) until it is true, at most ``tries`` times, 0.1 s apart."""
    for _ in range(tries):
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_loading_on_a_node_whose_rpc_does_not_answer_is_a_clear_error(hog_node):
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await _suspend(conn, "rex")
        try:
            with pytest.raises(NodeBusyError) as err:
                await ensure_agent(conn, timeouts=SMALL)
        finally:
            await _resume(conn)
        msg = str(err.value)
        # what was wrong (the step, the wait, what the probe saw), what is left, what to do
        assert "erlang:function_exported/3" in msg and "within 1 s" in msg, msg
        assert "did not answer a run-queue probe either" in msg, msg
        assert "Left on the node: nothing" in msg and "What to do:" in msg, msg
        assert err.value.load is None and err.value.step.startswith("the check for a loaded agent")
        # and indeed nothing was left; once rex runs again, attaching succeeds
        assert not await _agent_loaded(conn)
        assert (await ensure_agent(conn)).how == "prebuilt"


async def test_a_busy_code_server_is_a_clear_error_and_attaching_works_once_it_is_free(hog_node):
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await _suspend(conn, "code_server")  # as if a long code:load_file held it
        try:
            with pytest.raises(NodeBusyError) as err:
                await ensure_agent(conn, timeouts=SMALL)
        finally:
            await _resume(conn)
        msg = str(err.value)
        assert "code:load_binary/3" in msg, msg
        # the run queues are fine: the message says the call itself is slow there, not the node
        assert err.value.load is not None and not err.value.load.saturated, msg
        assert "busy code server" in msg and "the load may still complete" in msg, msg
        # once the code server runs again, attaching succeeds (whether the late call loaded it or not)
        assert (await ensure_agent(conn)).how in ("prebuilt", "already_loaded")
        assert await conn.rpc(MODULE, "version", []) == agent_version()


async def test_a_capture_start_that_does_not_answer_leaves_no_tracing_and_no_open_recording(hog_node, tmp_path):
    store = TraceStore.open(tmp_path / "s.db")
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await ensure_agent(conn)
        # the agent's setup asks the code server whether OTP 27's trace sessions exist: it waits there
        await _suspend(conn, "code_server")
        plan = CapturePlan(specs=(compile_spec("es_hog:stop/0"),), call_procs="all")
        try:
            with pytest.raises(NodeBusyError) as err:
                await capture(conn, store, "unlucky", plan, timeouts=SMALL)
        finally:
            await _resume(conn)
        msg = str(err.value)
        assert "start_capture/2" in msg and "Left on the node: the agent module" in msg, msg
        # the recording is ended and says why it holds nothing
        (rec,) = store.recordings()
        assert rec.end_reason == "error", rec
        # the setup went on once the code server ran again: the agent found its owner gone and
        # removed its pattern, and no agent process is left
        async def clean() -> bool:
            traced = await conn.rpc("erlang", "trace_info", [(Atom("es_hog"), Atom("stop"), 0), Atom("traced")])
            procs = await conn.rpc("erlang", "processes", [])
            calls = await conn.rpc("lists", "map", [_initial_call(), procs])
            return traced[1] in (False, Atom("false")) and not [c for c in calls if MODULE in repr(c)]

        assert await _until(clean)
    store.close()


async def test_the_agents_setup_wait_is_the_callers(hog_node, tmp_path):
    """``AttachTimeouts.setup`` is the wait the agent gives its own setup on the node: with the
    code server stuck, a 1 s setup inside a 5 s start rpc ends with the agent's own
    ``start_timeout`` (not the rpc's timeout), and the message names the 1 s."""
    store = TraceStore.open(tmp_path / "s.db")
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await ensure_agent(conn)
        await _suspend(conn, "code_server")
        plan = CapturePlan(specs=(compile_spec("es_hog:stop/0"),), call_procs="all")
        try:
            with pytest.raises(NodeBusyError) as err:
                await capture(conn, store, "short setup", plan, timeouts=AttachTimeouts(start=5.0, setup=1.0))
        finally:
            await _resume(conn)
    msg = str(err.value)
    assert "did not finish the agent's setup" in msg and "within 1 s" in msg, msg
    assert "Left on the node: the agent module; the agent was killed in its setup" in msg, msg
    (rec,) = store.recordings()
    assert rec.end_reason == "error", rec
    store.close()


async def test_connecting_to_a_node_whose_rpc_does_not_answer_is_a_connection(hog_node):
    """Connecting asks the node for its tick time over rpc; with ``rex`` stuck that question gets
    half of connect()'s timeout and the connection keeps the default tick time, instead of the
    whole connect failing as if the node could not be reached."""
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await _suspend(conn, "rex")
        try:
            async with Node() as other:
                late = await other.connect(hog_node.name, cookie=hog_node.cookie, timeout=2.0)
                assert not late.closed.is_set() and late.net_ticktime == 60.0  # the default kept
        finally:
            await _resume(conn)


def test_waits_that_cannot_work_are_refused_with_what_to_pass():
    with pytest.raises(ValueError, match="setup must be at least 0.1 s"):
        AttachTimeouts(setup=0.05)
    for bad in (0, -1.0, 601, True):
        with pytest.raises(ValueError, match="stop_timeout must be a number of seconds"):
            DiagnosisContext(store=None, stop_timeout=bad)
        with pytest.raises(ValueError, match="survey_timeout must be a number of seconds"):
            DiagnosisContext(store=None, survey_timeout=bad)


def test_cli_refuses_waits_that_cannot_work(tmp_path, capsys):
    from support.cli_run import run_fail

    err = run_fail(capsys, "diagnose", "nobody@nowhere", "slow", "--rpc-timeout", "0", "--store", str(tmp_path / "d.db"))
    assert "--rpc-timeout must be a number of seconds in (0, 600]" in err and "hint:" in err, err
    err = run_fail(capsys, "record", "lists:seq/2", "--node", "nobody@nowhere", "--setup-timeout", "0.01",
                   "--store", str(tmp_path / "r.db"))
    assert "--setup-timeout" in err and "at least 0.1 s" in err and "hint:" in err, err


def test_the_agents_setup_time_is_configurable_for_the_mcp_server_and_every_command(tmp_path, capsys, monkeypatch):
    """``ELIXIR_SCOPE_SETUP_TIMEOUT`` (what an MCP client's configuration sets) and ``mcp
    --setup-timeout`` give the tools' captures and diagnoses a longer setup on a busy node;
    a wrong value is one clear error line before anything starts."""
    import elixir_scope.mcp_server.fast_start as fast_start
    from elixir_scope.mcp_server.config import ConfigError, ServerConfig
    from support.cli_run import run, run_fail

    config = ServerConfig.from_env({"ELIXIR_SCOPE_SETUP_TIMEOUT": "60"})
    assert config.attach_timeouts.setup == 60.0 and config.attach_timeouts.start >= 90.0
    assert ServerConfig.from_env({}).attach_timeouts is None  # the defaults (15 s)
    with pytest.raises(ConfigError, match="ELIXIR_SCOPE_SETUP_TIMEOUT='soon' is not a number of seconds"):
        ServerConfig.from_env({"ELIXIR_SCOPE_SETUP_TIMEOUT": "soon"})

    served = []
    monkeypatch.setattr(fast_start, "serve_stdio", served.append)
    monkeypatch.setenv("ELIXIR_SCOPE_SETUP_TIMEOUT", "40")
    assert run(capsys, "mcp", "--store", str(tmp_path / "m.db"))[0] == 0
    assert served[-1].attach_timeouts.setup == 40.0
    assert run(capsys, "mcp", "--store", str(tmp_path / "m.db"), "--setup-timeout", "90")[0] == 0
    assert served[-1].attach_timeouts.setup == 90.0 and served[-1].attach_timeouts.start == 120.0
    err = run_fail(capsys, "mcp", "--store", str(tmp_path / "m.db"), "--setup-timeout", "0.01")
    assert "--setup-timeout" in err and "at least 0.1 s" in err and "hint:" in err, err
    monkeypatch.setenv("ELIXIR_SCOPE_SETUP_TIMEOUT", "-1")
    err = run_fail(capsys, "record", "lists:seq/2", "--node", "nobody@nowhere", "--store", str(tmp_path / "r.db"))
    assert "ELIXIR_SCOPE_SETUP_TIMEOUT='-1'" in err and "hint:" in err, err
    assert len(served) == 2


def _initial_call():
    from elixir_scope.instrument.etf import Export

    return Export(Atom("proc_lib"), Atom("translate_initial_call"), 1)


async def test_a_node_that_dies_while_the_agent_loads_is_node_down(hog_node):
    """Already clear before this change (the in-flight rpc fails with the connection); kept so
    the bounded waits never turn it into a timeout or a NodeBusyError about a dead node."""
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await _suspend(conn, "rex")  # the load waits in its first rpc when the node dies
        loading = asyncio.create_task(ensure_agent(conn, timeouts=AttachTimeouts(rpc=60.0)))
        await asyncio.sleep(0.2)
        hog_node.kill()
        with pytest.raises(NodeDown) as err:
            await loading
        assert hog_node.name in str(err.value) and "is down" in str(err.value)


async def test_a_newer_agent_is_left_alone_unless_taken_over(hog_node):
    newer = re.sub(rb"^version\(\) -> \d+\.", b"version() -> 99.", agent_source(), flags=re.MULTILINE)
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        res = await conn.rpc("code", "load_binary", [Atom(MODULE), Charlist(ord(c) for c in f"{MODULE}.erl"),
                                                     local_beam(newer)], timeout=30.0)
        assert res == (Atom("module"), Atom(MODULE))
        with pytest.raises(NewerAgentError) as err:
            await ensure_agent(conn)
        assert "version 99" in str(err.value) and f"({agent_version()})" in str(err.value)
        assert "force_reload=True" in str(err.value)
        assert await conn.rpc(MODULE, "version", []) == 99  # not downgraded
        taken = await ensure_agent(conn, force_reload=True)
        assert (taken.version, taken.replaced) == (agent_version(), 99)


async def test_a_diagnosis_of_a_node_that_died_ends_with_a_report_naming_it(hog_node, tmp_path):
    store = TraceStore.open(tmp_path / "d.db")
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        hog_node.kill()
        await _until(lambda: _closed(conn))
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, use_knowledge=False)
        report = await diagnose(DiagnosisInput(symptom="requests time out", node=hog_node.name, seconds=0.5,
                                               max_rounds=1), ctx)
    assert report.verdict == "inconclusive" and report.recording_id is None
    assert report.not_recorded and "is down" in report.not_recorded, report.not_recorded
    assert report.not_recorded in report.narrative.text
    assert "Nothing was recorded" in render_markdown(report)
    store.close()


async def _closed(conn) -> bool:
    return conn.closed.is_set()


async def test_a_diagnosis_of_a_saturated_node_ends_with_a_report(hog_node, tmp_path):
    """High-priority busy processes on every scheduler: rpcs wait seconds for a scheduler (5-19 s
    seen here), the agent's setup (at normal priority) may not run at all. Whatever this machine's
    timing gives, the diagnosis ends with a report: a recording, or the reason there is none."""
    store = TraceStore.open(tmp_path / "d.db")
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        assert await conn.rpc("es_hog", "start", [4, Atom("high"), 60_000], timeout=30.0) >= 4
        try:
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, use_knowledge=False,
                                   survey_timeout=SMALL.rpc, attach_timeouts=SMALL)
            report = await diagnose(DiagnosisInput(symptom="everything is slow", node=hog_node.name, seconds=0.5,
                                                   max_rounds=1), ctx)
        finally:
            await conn.send(Atom("es_hog"), Atom("stop"))
    if report.not_recorded:
        assert report.verdict == "inconclusive"
        assert "did not answer" in report.not_recorded, report.not_recorded
        # the cause is named: the probe's run queues, or that even the probe got no answer
        assert re.search("run.queue", report.not_recorded), report.not_recorded
    for rec in store.recordings():  # none is left open
        assert rec.end_reason is not None, rec
    store.close()


async def test_mcp_start_capture_on_a_node_whose_setup_gets_stuck_is_a_tool_error(hog_node, tmp_path):
    """The agent's own wait for its setup runs out (the code server does not answer it; the
    server's ``attach_timeouts.setup``, 2 s here instead of 15): the model gets what was wrong,
    what was left and what to do, and the server goes on serving."""
    from mcp import Client

    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.server import build_server
    from support.mcp_calls import err, ok

    server = build_server(ServerConfig(store_path=tmp_path / "t.db", cookie=hog_node.cookie,
                                       default_node=hog_node.name, attach_timeouts=AttachTimeouts(setup=2.0)))
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await ensure_agent(conn)
        await _suspend(conn, "code_server")
        try:
            async with Client(server) as client:
                text = await err(client, "start_capture", {"spec": ["es_hog:stop/0"], "max_seconds": 5})
                await _resume(conn)
                assert "did not finish the agent's setup" in text and "Left on the node: the agent module" in text, text
                assert "within 2 s" in text, text  # the server's setup wait, not the agent's default
                assert "Next step:" in text, text
                recs = await ok(client, "list_recordings", {})
                assert [r["end_reason"] for r in recs["items"]] == ["error"], recs
                # once the code server runs again, the same call records
                started = await ok(client, "start_capture", {"spec": ["es_hog:stop/0"], "max_seconds": 5})
                assert started["running"] is True
                await ok(client, "stop_capture", {"capture_id": started["capture_id"]})
        finally:
            await _resume(conn)


def test_cli_record_on_a_node_whose_setup_gets_stuck_is_one_error_line(hog_node, tmp_path, capsys):
    from support.cli_run import run_fail

    async def prepare():
        async with Node() as dist:
            conn = await _connect(hog_node, dist)
            await ensure_agent(conn)
            await _suspend(conn, "code_server")

    async def resume():
        async with Node() as dist:
            await _resume(await dist.connect(hog_node.name, cookie=hog_node.cookie))

    asyncio.run(prepare())
    try:
        err = run_fail(capsys, "record", "es_hog:stop/0", "--node", hog_node.name, "--cookie", hog_node.cookie,
                       "--store", str(tmp_path / "c.db"), "--max-seconds", "5", "--setup-timeout", "2")
    finally:
        asyncio.run(resume())
    assert "did not finish the agent's setup" in err and "Left on the node:" in err, err
    assert "within 2 s" in err, err  # --setup-timeout, not the agent's default 15 s
    assert "hint:" in err, err


async def test_a_round_that_cannot_record_keeps_the_earlier_rounds_evidence(tmp_path):
    """The trigger halts the node: round 1 records until the node goes (node_down), round 2
    cannot attach. The report explains round 1's recording and says round 2 could not record."""
    node = start_node("elixir", eval_code=":ok")
    store = TraceStore.open(tmp_path / "r.db")
    try:
        async with Node() as dist:
            conn = await dist.connect(node.name, cookie=node.cookie)
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, use_knowledge=False)
            report = await diagnose(DiagnosisInput(symptom="the node disappears", node=node.name,
                                                   trigger=":erlang.halt()", seconds=0.5, max_rounds=2), ctx)
    finally:
        node.stop()
    recs = sorted(store.recordings(), key=lambda r: r.id)
    # round 1 kept what it recorded; round 2's recording is ended, empty, saying why
    assert [r.end_reason for r in recs] == ["node_down", "error"], recs
    assert report.recording_id == recs[0].id  # round 1's evidence is the report's
    assert report.not_recorded and report.not_recorded.startswith("round 2 could not record"), report.not_recorded
    assert "is down" in report.not_recorded
    assert "The last round could not record" in render_markdown(report)
    store.close()


async def test_cli_diagnose_of_a_node_whose_rpc_does_not_answer_prints_an_inconclusive_report(
        hog_node, tmp_path, kb_index_dir, capsys, monkeypatch):
    from elixir_scope.cli import main

    home = tmp_path / "home"
    home.mkdir()
    (home / "kb-index").symlink_to(kb_index_dir)  # the session's knowledge index, where the CLI looks
    monkeypatch.setenv("ELIXIR_SCOPE_HOME", str(home))
    argv = ["diagnose", hog_node.name, "requests hang", "--cookie", hog_node.cookie, "--seconds", "0.5",
            "--max-rounds", "1", "--store", str(tmp_path / "c.db"), "--rpc-timeout", "1", "--timeout", "2"]
    async with Node() as dist:
        conn = await _connect(hog_node, dist)
        await _suspend(conn, "rex")
        try:
            code = await asyncio.to_thread(main, argv)  # the command line runs its own event loop
        finally:
            await _resume(conn)
    cap = capsys.readouterr()
    assert code == 3, cap.err  # inconclusive
    assert "Traceback" not in cap.err
    assert "Nothing was recorded" in cap.out and "did not answer" in cap.out, cap.out
    assert "run-queue probe" in cap.out, cap.out
