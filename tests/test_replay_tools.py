"""``elixir-scope replay`` / ``exunit`` and the MCP tools ``replay`` / ``generate_exunit``, over a
real recording of the ``corrupted_state`` app and its live node (through the SDK's client)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.cli import main
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.instrument.replay_recording import recorded_run
from elixir_scope.store import TraceStore
from support.corrupted_recording import APP_FILES, record_crash, start_corrupted_state


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(node, store path, recording id, {message text: call event id})."""
    node = start_corrupted_state()
    path = tmp_path_factory.mktemp("replay_tools") / "trace.db"
    try:
        rid = record_crash(node, path)
        store = TraceStore.open(path)
        try:
            run = recorded_run(store.recording(rid), "CorruptedState.Accounts")
            events = {key(inv.message): int(inv.source.split()[1]) for inv in run.invocations}
        finally:
            store.close()
        yield node, path, rid, events
    finally:
        node.stop()


def key(message) -> str:
    from elixir_scope.instrument.etf.inspect import inspect

    return inspect(message)


BAD = "{:update_profile, 2, %{email: nil}}"
FIRST = '{:update_profile, 1, %{name: "Ada L."}}'


def cli(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_replay_and_counterfactual(capsys, traced):
    node, path, rid, events = traced
    common = ["--node", node.name, "--cookie", node.cookie, "--store", str(path)]
    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", *common)
    assert code == 0, err
    assert out.startswith("replay of CorruptedState.Accounts: reproduced")
    assert "raised error :function_clause" in out and "matches the recording" in out
    assert f"recording {rid}, process" in err

    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--json", *common)
    got = json.loads(out)
    assert got["verdict"] == "reproduced" and got["invocations"] == 5
    assert got["failure"]["callback"] == "handle_call" and got["failure"]["index"] == 4
    assert "email: nil" in got["state_before_failure"]

    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--without", str(events[BAD]), *common)
    assert code == 0 and out.startswith("counterfactual: confirmed"), err
    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--without", str(events[FIRST]),
                         "--json", *common)
    got = json.loads(out)
    assert got["verdict"] == "refuted" and got["without_suspect"]["failure"]["callback"] == "handle_call"
    assert got["suspect"]["source"] == f"event {events[FIRST]}"

    # clear errors: an event that is not a callback of the window, a window too narrow, no node
    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--without", "999999", *common)
    assert code == 1 and "no event 999999" in err and "hint:" in err
    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--last", "0", *common)
    assert code == 1 and "last must be at least 1" in err
    # without --node: the node the recording was made on
    code, out, err = cli(capsys, "replay", "CorruptedState.Accounts", "--store", str(path), "--cookie", node.cookie)
    assert code == 0 and out.startswith("replay of CorruptedState.Accounts: reproduced"), err


def test_cli_exunit_prints_writes_and_runs(capsys, traced, tmp_path):
    node, path, rid, _ = traced
    code, out, err = cli(capsys, "exunit", "CorruptedState.Accounts", "--store", str(path))
    assert code == 0 and "defmodule ElixirScope.Replay.CorruptedStateAccountsTest do" in out
    assert "CorruptedState.Accounts.handle_cast({:update_profile, 2, %{email: nil}}, state)" in out

    target = tmp_path / "accounts_replay_test.exs"
    argv = ["exunit", "CorruptedState.Accounts", "--store", str(path), "--out", str(target), "--run"]
    argv += [x for f in APP_FILES for x in ("--app-file", str(f))]
    code, out, err = cli(capsys, *argv, "--json")
    got = json.loads(out)
    assert code == 0 and got["ran"] and got["fails_as_recorded"] is True, got.get("output_tail")
    assert got["failure_banner"] == "** (FunctionClauseError) no function clause matching in String.downcase/2"
    assert target.read_text() == got["source"]

    # --run with no sources: the recording's node; this one compiled the app in memory, so it says what to give
    code, _, err = cli(capsys, "exunit", "CorruptedState.Accounts", "--store", str(path), "--run",
                       "--cookie", node.cookie)
    assert code == 1 and "compiled in memory" in err and "--app-file" in err
    code, _, err = cli(capsys, "exunit", "CorruptedState.Accounts", "--store", str(path), "--last", "2",
                       "--until-event", "1", "--run", "--app-file", str(APP_FILES[0]))
    assert code == 1 and "names 2 processes" in err and "pid text" in err


def server(path, node, **kw):
    return build_server(ServerConfig(store_path=path, default_node=node.name, cookie=node.cookie, **kw))


async def test_mcp_replay_tools(traced, tmp_path):
    node, path, rid, events = traced
    async with Client(server(path, node, allow_mutations=True)) as client:
        r = await client.call_tool("replay", {"process": "CorruptedState.Accounts", "recording": rid})
        assert not r.is_error, r.content[0].text
        rep = r.structured_content["replay"]
        assert rep["verdict"] == "reproduced" and rep["failure"]["outcome"].startswith("raised error :function_clause")
        assert rep["module"] == "CorruptedState.Accounts" and len(rep["steps"]) == 5

        r = await client.call_tool("replay", {"process": "CorruptedState.Accounts", "without_event": events[BAD]})
        cf = r.structured_content["counterfactual"]
        assert cf["verdict"] == "confirmed" and cf["without_suspect"]["failure"] is None
        assert cf["suspect"]["message"] == "{:update_profile, 2, %{email: nil}}"

        r = await client.call_tool("replay", {"process": "CorruptedState.Nobody"})
        assert r.is_error and "Next step" in r.content[0].text

        r = await client.call_tool("generate_exunit", {
            "process": "CorruptedState.Accounts", "file_name": "accounts_replay_test.exs", "run": True,
            "app_files": [str(f) for f in APP_FILES]})
        assert not r.is_error, r.content[0].text
        ex = r.structured_content
        assert ex["fails_as_recorded"] is True and ex["failing_callback"].startswith("handle_call [event ")
        # written inside the server's exports folder, nowhere else
        assert ex["path"] == str(path.parent / "exports" / "accounts_replay_test.exs")
        assert open(ex["path"]).read() == ex["source"] and not ex["source_truncated"]
        for bad in ("../escape_test.exs", "/tmp/x_test.exs", "notes.txt"):
            r = await client.call_tool("generate_exunit", {"process": "CorruptedState.Accounts", "file_name": bad})
            assert r.is_error and "invalid file name" in r.content[0].text

        r = await client.call_tool("generate_exunit", {"process": "CorruptedState.Accounts", "run": True})
        assert r.is_error and "app_files" in r.content[0].text


async def test_mcp_observe_only_server_has_no_replay(traced):
    node, path, rid, _ = traced
    async with Client(server(path, node)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "generate_exunit" in names and "replay" not in names
        r = await client.call_tool("generate_exunit", {"process": "CorruptedState.Accounts", "last": 2})
        assert not r.is_error and r.structured_content["ran"] is False
        assert "handle_call(:weekly_digest" in r.structured_content["source"]
        r = await client.call_tool("generate_exunit", {"process": "CorruptedState.Accounts", "run": True,
                                                        "app_files": [str(APP_FILES[0])]})
        assert r.is_error and "--allow-mutations" in r.content[0].text
