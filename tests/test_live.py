"""Live inspection (instrument/introspect/live_*) against a real Elixir node running the
tests/fixtures/live_app processes: a gen_statem, a GenServer with a secret in its state, a
process that never reads its mailbox, public/private/unnamed ETS tables, application env with
secrets, a listening TCP socket and an open file."""

from __future__ import annotations

import asyncio

import pytest

from support.nodes import REPO, start_node

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.introspect import (
    LiveOptions,
    NoSuchApplication,
    NoSuchTable,
    NotSysProcess,
    PrivateTable,
    ProcessNotFound,
    app_env,
    applications,
    ets_sample,
    ets_tables,
    forward_logs,
    get_state,
    memory_usage,
    peek_mailbox,
    ports,
    read_logs,
    release_log_ring,
    scheduler_usage,
    start_log_ring,
)

LIVE_APP = REPO / "tests" / "fixtures" / "live_app" / "live_app.ex"
REDACTED = Atom("[REDACTED]")


@pytest.fixture(scope="module")
def live_node():
    node = start_node("elixir", elixir_files=[LIVE_APP], eval_code=":ok = LiveApp.start()")
    yield node
    node.stop()


@pytest.fixture
async def conn(live_node):
    node = Node()
    c = await node.connect(live_node.name, cookie=live_node.cookie)
    yield c
    await node.close()


async def _atom_count(conn) -> int:
    return await conn.rpc("erlang", "system_info", [Atom("atom_count")])


async def test_get_state_of_a_genserver_is_redacted_and_cut(conn):
    st = await get_state(conn, "LiveApp.Vault", options=LiveOptions(max_bytes=60_000))
    assert st.behaviour == "gen_server" and st.module == "Elixir.LiveApp.Vault"
    assert st.state.redacted and not st.state.truncated
    term = st.state.term
    assert term[Atom("password")] == REDACTED and term[Atom("user")] == b"ada"
    assert len(term[Atom("items")]) == 5000
    small = await get_state(conn, "LiveApp.Vault", options=LiveOptions(max_bytes=2048))
    assert small.state.truncated and Atom("$truncated") in small.state.term[Atom("items")]


async def test_get_state_of_a_gen_statem_splits_state_name_and_data(conn):
    before = await get_state(conn, "Elixir.LiveApp.Light")
    assert before.behaviour == "gen_statem" and before.state_name == Atom("off")
    assert before.data[Atom("api_key")] == REDACTED
    await conn.rpc("Elixir.LiveApp.Light", "flip", [])
    after = await get_state(conn, "LiveApp.Light")
    assert after.state_name == Atom("on") and after.data[Atom("flips")] == before.data[Atom("flips")] + 1


async def test_get_state_errors_and_no_new_atoms(conn):
    atoms = await _atom_count(conn)
    with pytest.raises(ProcessNotFound):
        await get_state(conn, "NoSuch.Process.Zq81")
    with pytest.raises(ProcessNotFound):
        await get_state(conn, "<0.9999.0>")
    with pytest.raises(NotSysProcess):
        await get_state(conn, "LiveApp.Sleeper", timeout_ms=200)
    assert await _atom_count(conn) == atoms
    with pytest.raises(ValueError, match="timeout_ms"):
        await get_state(conn, "LiveApp.Vault", timeout_ms=0)


async def test_peek_mailbox_first_messages_oldest_first(conn):
    peek = await peek_mailbox(conn, "LiveApp.Sleeper", limit=3)
    assert peek.length == 25 and len(peek.messages) == 3
    first = peek.messages[0].term
    assert first[0] == Atom("job") and first[1] == 1 and first[2][Atom("token")] == REDACTED
    too_long = await peek_mailbox(conn, "LiveApp.Sleeper", limit=3, copy_limit=10)
    assert too_long.length == 25 and too_long.messages is None
    empty = await peek_mailbox(conn, "LiveApp.Vault")
    assert empty.length == 0 and empty.messages == []


async def test_ets_tables_and_samples(conn):
    tables, total = await ets_tables(conn)
    assert total == len(tables) > 5
    by_name = {t.name: t for t in tables}
    cache = by_name["live_app_cache"]
    assert cache.size == 200 and cache.protection == "public" and cache.named and cache.memory_bytes > 0
    assert by_name["live_app_private"].owner_name == "Elixir.LiveApp.Vault"
    sample = await ets_sample(conn, "live_app_cache", limit=4)
    assert len(sample.objects) == 4 and sample.table.size == 200
    row = sample.objects[0].term
    assert isinstance(row[0], int) and row[2][Atom("secret")] == REDACTED
    unnamed = next(t for t in tables if t.name == "live_app_unnamed")
    assert not unnamed.named and unnamed.ref_text.startswith("#Ref<")
    assert (await ets_sample(conn, unnamed.ref_text)).objects == []
    with pytest.raises(PrivateTable, match="private"):
        await ets_sample(conn, ":live_app_private")
    atoms = await _atom_count(conn)
    with pytest.raises(NoSuchTable):
        await ets_sample(conn, "no_such_table_zq81")
    assert await _atom_count(conn) == atoms


async def test_app_env_is_redacted(conn):
    env = dict((await app_env(conn, "live_app")).entries)
    assert env["db_password"].term == REDACTED and env["db_password"].redacted is False  # redacted before payload
    assert env["pool_size"].term == 10
    endpoint = dict(env["endpoint"].term)
    assert endpoint[Atom("host")] == b"localhost" and endpoint[Atom("secret_key_base")] == REDACTED
    with pytest.raises(NoSuchApplication):
        await app_env(conn, "no_such_app_zq81")
    apps = {a.application: a for a in await applications(conn)}
    assert apps["kernel"].running and apps["kernel"].env_keys > 0


async def test_scheduler_and_memory_usage(conn):
    load = await scheduler_usage(conn, interval_ms=200)
    assert load.interval_ms == 200 and load.online >= 1
    normal = [s for s in load.schedulers if s.type == "normal"]
    assert normal and all(0.0 <= s.utilization <= 1.0 for s in load.schedulers)
    assert {"dirty_cpu", "dirty_io"} <= {s.type for s in load.schedulers}
    mem = await memory_usage(conn)
    assert mem.by_kind["total"] >= mem.by_kind["processes"] > 0
    names = {a.allocator for a in mem.allocators}
    assert {"eheap_alloc", "binary_alloc", "ets_alloc"} <= names
    assert all(a.carriers_bytes >= a.blocks_bytes >= 0 for a in mem.allocators)
    assert [a.carriers_bytes for a in mem.allocators] == sorted((a.carriers_bytes for a in mem.allocators), reverse=True)


async def test_ports_files_and_owners(conn):
    view = await ports(conn)
    tcp = [p for p in view.ports if p.kind == "tcp"]
    assert any(p.owner_name == "live_app_port_owner" and p.local and p.local.rsplit(":", 1)[1].isdigit() for p in tcp)
    assert view.total_ports >= len(view.ports) > 0
    assert any(f.path and "live_app_" in f.path and f.owner is not None for f in view.files)


async def test_log_ring_reads_filters_forwards_and_goes_away(conn):
    owner = conn.node.mailbox()
    started = await start_log_ring(conn, owner.pid, capacity=50)
    base = started.last_seq
    await conn.rpc("Elixir.Logger", "bare_log", [Atom("warning"), b"disk almost full password=x"])
    await conn.rpc("logger", "error", [b"checkout timeout for cart 7"])
    await conn.rpc("logger", "info", [b"all fine"])
    await conn.rpc("logger", "error", [b"login ~p", [[(Atom("password"), b"pw"), (Atom("user"), b"bob")]]])
    page = None
    for _ in range(50):
        page = await read_logs(conn, after_seq=base)
        if page.matched >= 3:
            break
        await asyncio.sleep(0.1)
    texts = [e.text for e in page.events]
    assert any("checkout timeout" in t for t in texts)
    login = next(t for t in texts if t.startswith("login"))
    assert "pw" not in login and "REDACTED" in login and "bob" in login
    errors = await read_logs(conn, after_seq=base, min_level="error", text="CHECKOUT")
    assert [e.level for e in errors.events] == ["error"] and "cart 7" in errors.events[0].text
    assert errors.events[0].time_us > started.since_us - 1
    newer = await read_logs(conn, after_seq=page.last_seq)
    assert newer.events == []
    # the handler exists while an owner lives, and is removed when the last owner leaves
    ids = await conn.rpc("logger", "get_handler_ids", [])
    assert Atom("elixir_scope_log_ring") in ids
    await release_log_ring(conn, owner.pid)
    for _ in range(50):
        ids = await conn.rpc("logger", "get_handler_ids", [])
        if Atom("elixir_scope_log_ring") not in ids:
            break
        await asyncio.sleep(0.05)
    assert Atom("elixir_scope_log_ring") not in ids
    owner.close()


async def test_log_ring_removed_when_python_node_disconnects(live_node):
    node = Node()
    c = await node.connect(live_node.name, cookie=live_node.cookie)
    owner = node.mailbox()
    await start_log_ring(c, owner.pid)
    await node.close()
    node2 = Node()
    c2 = await node2.connect(live_node.name, cookie=live_node.cookie)
    try:
        for _ in range(100):
            ids = await c2.rpc("logger", "get_handler_ids", [])
            if Atom("elixir_scope_log_ring") not in ids:
                break
            await asyncio.sleep(0.05)
        assert Atom("elixir_scope_log_ring") not in ids
        assert await c2.rpc("erlang", "whereis", [Atom("elixir_scope_log_ring")]) == Atom("undefined")
    finally:
        await node2.close()


async def test_log_events_are_recorded_into_a_capture(conn, tmp_path):
    from elixir_scope.instrument.capture import CapturePlan
    from elixir_scope.instrument.session import capture
    from elixir_scope.store import TraceStore

    store = TraceStore.open(tmp_path / "t.db")
    owner = conn.node.mailbox()
    await start_log_ring(conn, owner.pid)
    session = await capture(conn, store, "logs", CapturePlan.from_strings(["Elixir.LiveApp.Light.flip/0"]))
    await forward_logs(conn, session.agent)
    await conn.rpc("logger", "error", [b"recorded while capturing"])
    await conn.rpc("Elixir.LiveApp.Light", "flip", [])
    await asyncio.sleep(0.3)
    result = await session.stop()
    rec = store.recording(session.recording.id)
    from elixir_scope.store.events import EventKind

    marks = [e for e in rec.events(limit=100) if e.kind == EventKind.MARK]
    assert any("recorded while capturing" in repr(m.payload) for m in marks), [m.payload for m in marks]
    await release_log_ring(conn, owner.pid)
    owner.close()
    store.close()
    assert result is not None


async def test_live_tools_on_the_otp28_runtime(otp28_node):
    node = Node()
    c = await node.connect(otp28_node.name, cookie=otp28_node.cookie)
    try:
        st = await get_state(c, ":logger")
        assert st.behaviour == "gen_server" and st.module == "logger_server"
        mem = await memory_usage(c)
        assert mem.by_kind["total"] > 0 and mem.allocators
        load = await scheduler_usage(c, interval_ms=100)
        assert load.schedulers
        tables, _ = await ets_tables(c)
        assert "logger" in {t.name for t in tables}
        owner = node.mailbox()
        ring = await start_log_ring(c, owner.pid)
        await c.rpc("logger", "warning", [b"from otp 28"])
        for _ in range(50):
            page = await read_logs(c, after_seq=ring.last_seq, min_level="warning")
            if page.events:
                break
            await asyncio.sleep(0.05)
        assert page.events[0].text == "from otp 28"
    finally:
        await node.close()


async def test_process_details_show_the_name_an_app_keeps(conn):
    """RabbitMQ keeps a `process_name` per channel; OTP 27 has process labels: shown when there
    is no registered name."""
    from elixir_scope.instrument.introspect import process_details
    from elixir_scope.mcp_server.live_models import process_details_model

    pid = await conn.rpc("erlang", "whereis", [Atom("live_app_port_owner")])
    plain = await process_details(conn, pid)
    assert plain.label is None
    labelled = await conn.rpc("Elixir.LiveApp", "labelled", [])
    for _ in range(50):  # the new process puts its name right after it starts
        d = process_details_model(await process_details(conn, labelled))
        if d.label:
            break
        await asyncio.sleep(0.02)
    assert d.label == '{:channel, "amqp 10.0.0.1:5672", 1}'
