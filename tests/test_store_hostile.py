"""The store under faults: a batch the store refuses (full) is counted as a gap, not lost
silently (real captures on OTP 25 and the OTP 28 runtime); read commands work on a store in a
read-only directory; names with terminal escapes or Rich markup are shown escaped."""

from __future__ import annotations

import asyncio

import pytest

from support.nodes import start_node

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore


@pytest.fixture(scope="module", params=["erl", "otp28"])
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


async def test_a_batch_refused_by_a_full_store_becomes_a_gap(target, tmp_path):
    store = TraceStore.open(tmp_path / "full.db")
    plan = CapturePlan(specs=(compile_spec("lists:seq/2", force=True),))
    limits = CaptureLimits(max_seconds=20, batch_ms=300)
    node = Node()
    try:
        conn = await node.connect(target.name, cookie=target.cookie)
        rec = store.create_recording("full", spec=plan.describe(), limits=limits.as_dict())
        # the disk is "full": a few pages of headroom, enough for a gap row, not for a batch
        conn_db = store.db.conn
        with store.db.lock:
            (pages,) = conn_db.execute("PRAGMA page_count").fetchone()
            conn_db.execute(f"PRAGMA max_page_count = {pages + 3}")
        session = await CaptureSession.start(conn, rec, plan, limits)

        async def traffic() -> None:
            while True:
                await conn.rpc("lists", "seq", [1, 300])

        load = asyncio.ensure_future(traffic())
        try:
            result = await asyncio.wait_for(session.wait(), 60)
        finally:
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
    finally:
        await node.close()
    assert result.end_reason == "store_error", (result, store.db.conn.execute("PRAGMA page_count").fetchone())
    assert "events received are missing" in result.detail
    with store.db.lock:
        store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    gaps = [g for g in store.recording(result.recording_id).gaps() if g.reason == "store_error"]
    assert len(gaps) == 1 and gaps[0].count > 0
    store.close()


# --- a store in a directory nobody may write ----------------------------------------------

def _make_read_only(folder) -> None:
    import os
    import subprocess

    if os.geteuid() == 0:  # root ignores permission bits: use the immutable attribute
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)


def _make_writable(folder) -> None:
    import os
    import subprocess

    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


def test_read_commands_work_on_a_read_only_store_directory(tmp_path, capsys):
    import json

    from elixir_scope.cli import main
    from support.cart_recording import build_cart_recording

    folder = tmp_path / "ro"
    folder.mkdir()
    store = folder / "traces.db"
    build_cart_recording(store)
    out_file = tmp_path / "out.esrec"
    _make_read_only(folder)
    try:
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")

        def run(*argv):
            code = main([*argv, "--store", str(store), "--json"])
            captured = capsys.readouterr()
            assert code == 0, captured.err
            return json.loads(captured.out)

        assert [r["name"] for r in run("recordings")] == ["cart session"]
        counted = run("query", "calls | count by function")
        assert counted["items"][0]["count"] == 3
        state = run("state-at", "SampleApp.Cart")
        assert "plum" in json.dumps(state)
        run("export", "1", str(out_file))
        assert out_file.is_file()
        assert sorted(p.name for p in folder.iterdir()) == ["traces.db"]  # nothing written there
    finally:
        _make_writable(folder)


# --- names chosen by the traced application -------------------------------------------------

EVIL_PROC = "[bold red]evil[/]\x1b[2J\x1b]0;pwned\x07\u202e"
EVIL_FUN = "f[/]\x1b[31m\x9b"


def test_control_characters_and_markup_in_names_are_shown_escaped(tmp_path, capsys):
    import json

    from elixir_scope.cli import main
    from elixir_scope.mcp_server.tools.query import _item
    from elixir_scope.store.query import run_query
    from support.query_records import flush, new_recording

    path = tmp_path / "evil.db"
    st = TraceStore.open(path)
    w, node, b = new_recording(st, "evil\x1b[5m [blink]")
    p = b.pid(1, name=EVIL_PROC)
    f = b.mfa("MyApp.Evil", EVIL_FUN, 1)
    b.call(p, f, [b"\x1b[2Jpayload"])
    b.ret(p, f, 1)
    flush(w, node, b)
    w.finish("stopped", {})
    rows = run_query(st, "calls").rows
    st.close()

    for argv in (["query", "calls"], ["recordings"], ["query", "calls | count by process"]):
        assert main([*argv, "--store", str(path)]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out and "\x07" not in out
    assert main(["query", "calls", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "red]evil[/]" in out and "\\x1b[2J" in out and "f[/]" in out  # shown, not interpreted
    # JSON output escapes them too (as JSON does)
    assert main(["query", "calls", "--store", str(path), "--json"]) == 0
    raw = capsys.readouterr().out
    assert "\x1b" not in raw and json.loads(raw)["items"]
    # and so does the MCP query tool's output
    item = json.dumps(_item(rows[0]), ensure_ascii=False)
    assert "\x1b" not in item and "\x9b" not in item and "\\\\x1b" in item


async def test_mcp_history_tools_work_on_a_read_only_store_directory(tmp_path):
    from mcp import Client

    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.server import build_server
    from support.cart_recording import build_cart_recording

    folder = tmp_path / "ro"
    folder.mkdir()
    store = folder / "traces.db"
    build_cart_recording(store)
    _make_read_only(folder)
    try:
        async with Client(build_server(ServerConfig(store_path=store))) as client:
            listed = await client.call_tool("list_recordings", {})
            assert not listed.is_error, listed.content[0].text
            got = await client.call_tool("query", {"text": "calls | count by function"})
            assert not got.is_error and got.structured_content["items"][0]["count"] == 3
    finally:
        _make_writable(folder)
