"""The live commands of ``elixir-scope`` (state, mailbox, ets, logs, schedulers, memory, ports,
env) against a real Elixir node running tests/fixtures/live_app, in tables and --json, in
Elixir and (--syntax erlang) Erlang."""

from __future__ import annotations

import threading
import time

import pytest

from elixir_scope.cli import main
from support.nodes import REPO, start_node
from support.cli_run import run_json, run_ok as run

LIVE_APP = REPO / "tests" / "fixtures" / "live_app" / "live_app.ex"


@pytest.fixture(scope="module")
def live_node():
    node = start_node("elixir", elixir_files=[LIVE_APP], eval_code=":ok = LiveApp.start()")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def target(live_node):
    return ["--node", live_node.name, "--cookie", live_node.cookie]


def test_state_in_elixir_and_erlang(capsys, target):
    got = run_json(capsys, "state", "LiveApp.Vault", *target)
    assert got["behaviour"] == "gen_server" and "password: «redacted»" in got["state"]
    text = run(capsys, "state", "LiveApp.Light", *target)
    assert "state name" in text and (":off" in text or ":on" in text)
    erl = run_json(capsys, "state", "LiveApp.Vault", *target, "--syntax", "erlang")
    assert erl["module"] == "'Elixir.LiveApp.Vault'" and erl["pid"].startswith("<0.") and "password => «redacted»" in erl["state"]


def test_mailbox_ets_env(capsys, target):
    got = run_json(capsys, "mailbox", "LiveApp.Sleeper", "--limit", "2", *target)
    assert got["length"] == 25 and len(got["messages"]) == 2
    tables = run_json(capsys, "ets", "--find", "live_app", "--sort", "size", *target)
    assert tables[0]["table"] == ":live_app_cache"
    sample = run_json(capsys, "ets", ":live_app_cache", "--limit", "3", *target)
    assert sample["shown"] == 3
    assert ":live_app_cache" in run(capsys, "ets", "--find", "live_app", *target)
    env = {e["key"]: e["value"] for e in run_json(capsys, "env", "live_app", *target)}
    assert env["db_password"] == "«redacted»"
    assert "kernel" in run(capsys, "env", *target)


def test_system_figures(capsys, target):
    sched = run_json(capsys, "schedulers", "--interval-ms", "100", *target)
    assert sched["interval_ms"] == 100 and sched["schedulers"]
    mem = run_json(capsys, "memory", *target)
    assert mem["by_kind"]["total"] > 0
    assert "Allocators" in run(capsys, "memory", *target)
    socks = run_json(capsys, "ports", "--kind", "sockets", *target)
    assert any(r["kind"] == "tcp" for r in socks)


def test_logs_collects_while_watching(capsys, target, live_node):
    def log_later():
        import asyncio

        from elixir_scope.instrument.dist import Node

        async def go():
            time.sleep(1.5)
            node = Node()
            c = await node.connect(live_node.name, cookie=live_node.cookie)
            await c.rpc("logger", "error", [b"cli sees this error"])
            await c.rpc("logger", "info", [b"cli skips this info"])
            await node.close()

        asyncio.run(go())

    t = threading.Thread(target=log_later)
    t.start()
    rows = run_json(capsys, "logs", "--seconds", "4", "--level", "warning", *target)
    t.join()
    assert [r["text"] for r in rows] == ["cli sees this error"] and rows[0]["level"] == "error"


def test_live_errors_are_one_line(capsys, target):
    code = main(["state", "No.Such.Thing.Zq", *target])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and "Traceback" not in err


def test_record_with_logs_keeps_log_events_as_marks(capsys, target, live_node, tmp_path):
    from elixir_scope.store import TraceStore
    from elixir_scope.store.events import EventKind

    def log_later():
        import asyncio

        from elixir_scope.instrument.dist import Node

        async def go():  # log every half second: some land after the capture has started
            node = Node()
            c = await node.connect(live_node.name, cookie=live_node.cookie)
            for _ in range(10):
                await asyncio.sleep(0.5)
                await c.rpc("logger", "warning", [b"logged during the recording"])
            await node.close()

        asyncio.run(go())

    store = tmp_path / "t.db"
    t = threading.Thread(target=log_later)
    t.start()
    code = main(["record", "Elixir.LiveApp.Light.flip/0", "--logs", "--max-seconds", "3", "--store", str(store), *target])
    t.join()
    assert code == 0, capsys.readouterr().err
    s = TraceStore.open(store)
    try:
        rec = s.recording(s.recordings()[-1].id)
        marks = [e.payload for e in rec.events(limit=1000) if e.kind == EventKind.MARK]
    finally:
        s.close()
    assert any("logged during the recording" in repr(m) for m in marks), marks
