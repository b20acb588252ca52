"""Naming recorded processes as people do: ``#PID<0.113.0>`` (the form the tools print),
``<0.113.0>``, a name; and a name two processes held (a restart) answered with both pids and
how to pick one (``--pid`` / the pid as process) - on the command line and through MCP."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from elixir_scope.instrument.etf import Atom
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import TraceStore
from support.query_records import flush, new_recording
from support.cli_run import run


@pytest.fixture
def restarted(tmp_path) -> str:
    """A recording where SampleApp.Cart crashed and came back as another process."""
    path = tmp_path / "t.db"
    store = TraceStore.open(path)
    writer, node_id, b = new_recording(store, "restart")
    first = b.pid(113, "SampleApp.Cart", ("SampleApp.Cart", "init", 1))
    second = b.pid(250, "SampleApp.Cart", ("SampleApp.Cart", "init", 1))
    cb = b.mfa("SampleApp.Cart", "handle_call", 3)
    b.state(first, cb, "after", {Atom("items"): [1]})
    b.state(second, cb, "after", {Atom("items"): [2, 3]})
    flush(writer, node_id, b)
    writer.finish("stopped")
    store.close()
    return str(path)


def test_cli_state_at_by_pid_forms_and_ambiguous_name(capsys, restarted):
    code, out, err = run(capsys, "state-at", "#PID<0.113.0>", "--store", restarted, "--json")
    assert code == 0, err
    assert "[1]" in json.dumps(json.loads(out))
    code, out, err = run(capsys, "state-at", "<0.250.0>", "--store", restarted, "--json")
    assert code == 0 and "[2, 3]" in out
    code, out, err = run(capsys, "state-at", "SampleApp.Cart", "--store", restarted)
    assert code != 0 and "<0.113.0>" in err and "<0.250.0>" in err and "--pid" in err and "node_id" not in err
    code, out, err = run(capsys, "state-at", "SampleApp.Cart", "--pid", "#PID<0.250.0>", "--store", restarted, "--json")
    assert code == 0 and "[2, 3]" in out


async def test_mcp_state_at_ambiguous_name_says_which_pids(restarted):
    from pathlib import Path

    async with Client(build_server(ServerConfig(store_path=Path(restarted)))) as client:
        got = await client.call_tool("state_at", {"process": "SampleApp.Cart"})
        assert got.is_error and "<0.113.0>" in got.content[0].text and "process='<0.250.0>'" in got.content[0].text
        got = await client.call_tool("state_at", {"process": "#PID<0.250.0>"})
        assert not got.is_error and "[2, 3]" in json.dumps(got.structured_content)
