"""Multi-node capture against real connected nodes: two OTP 25 nodes and one on the OTP 28
runtime, one recording, messages and GenServer-style calls matched across nodes, per-node
clock estimates, a node killed mid-capture, the overall event limit, clear errors."""

from __future__ import annotations

import asyncio

import pytest
from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.cluster import (
    ClusterError,
    ClusterLimits,
    capture_cluster,
    cluster_members,
)
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.names import UnknownNameError
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.causal import ensure_causal, unmatched_sends
from elixir_scope.store.clocks import happens_before_order
from elixir_scope.store.query.run import run_query
from support.cluster import start_cluster, stop_cluster
from support.nodes import short_host, unique

A = Atom

PLAN = CapturePlan(message_procs=(Registered("client"), Registered("srv")))


@pytest.fixture
def cluster():
    """a (OTP 25, client) connected to b (OTP 25, srv) and c (OTP 28 runtime, srv)."""
    nodes = start_cluster()
    yield nodes
    stop_cluster(nodes)


@pytest.fixture
def store(tmp_path):
    s = TraceStore.open(tmp_path / "cluster.db")
    yield s
    s.close()


def _count(result) -> int:
    return result.groups[0].values["count"]


async def _go(conn, nodes, n):
    await conn.rpc("erlang", "send", [A("client"), (A("go"), [A(x.name) for x in nodes], n)])


async def _until(pred, what, tries=200):
    for _ in range(tries):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_three_nodes_one_recording_cross_node_causality_and_a_node_lost(cluster, store):
    a, b, c = cluster
    local = Node()
    try:
        cap = await capture_cluster(local, [a.name, b.name, c.name], store, "cluster", PLAN,
                                    cookie=a.cookie, limits=CaptureLimits(batch_ms=20))
        assert cap.node_names == [a.name, b.name, c.name]
        by_node = {s.conn.node_name: s for s in cap.sessions}
        await _go(cap.conn, [b, c], 3)
        # 3 pings + 3 calls to each of b and c: every srv receives 6 messages and sends 6
        await _until(lambda: by_node[b.name].stored >= 12 and by_node[c.name].stored >= 12, "b and c")
        await _until(lambda: by_node[a.name].stored >= 24, "a")
        c.kill()  # the OTP 28 node dies mid-capture
        await by_node[c.name].wait(60)
        assert by_node[c.name].state.value == "ended"
        kept_c = by_node[c.name].stored
        await _go(cap.conn, [b], 2)  # the others go on
        await _until(lambda: by_node[b.name].stored >= 20, "b after c left")
        await asyncio.sleep(0.3)
        result = await cap.stop()
    finally:
        await local.close()

    assert result.end_reason == "stopped"
    assert result.extra["nodes"][c.name]["end_reason"] == "node_down"
    assert result.extra["nodes"][a.name]["end_reason"] == "stopped"
    assert result.stats.stored == sum(v["stored"] for v in result.extra["nodes"].values())
    rec = store.recording(result.recording_id)
    nodes = {n.name: n for n in rec.nodes()}
    assert set(nodes) == {a.name, b.name, c.name}
    assert nodes[c.name].end_reason == "node_down" and nodes[b.name].end_reason == "stopped"
    assert rec.info.end_reason == "stopped"
    assert rec.stats.event_count == result.stats.stored
    # nothing recorded on c was lost; its end is a gap on c only
    assert len(rec.events(node_id=nodes[c.name].id, limit=10_000)) == kept_c
    assert [(g.node_id, g.reason) for g in rec.gaps()] == [(nodes[c.name].id, "node_down")]

    # clocks: one machine, so the true skew is 0 and each estimate's bound must cover it;
    # start and end estimates agree within their bounds; c, gone, has no end estimate
    for name, n in nodes.items():
        assert n.clock_skew is not None and n.clock_error is not None and n.clock_error > 0
        assert abs(n.clock_skew_start) <= n.clock_error, name
    for name in (a.name, b.name):
        n = nodes[name]
        assert n.clock_skew_end is not None
        assert abs(n.clock_skew_start - n.clock_skew_end) <= 2 * n.clock_error
    assert nodes[c.name].clock_skew_end is None

    # every send of a's client is received on b or c and matched there, across nodes
    sends = rec.events(kind=EventKind.SEND, node_id=nodes[a.name].id, limit=1000)
    assert len(sends) == 3 + 3 + 3 + 3 + 2 + 2  # pings and calls to b and c, then to b
    ids = {e.id for e in sends}
    ensure_causal(rec)
    links = rec.db.query("SELECT send_id, recv_id, method, send_node, recv_node FROM msg_links "
                         "WHERE recording_id = ?", (rec.id,))
    cross = [l for l in links if l[0] in ids]
    assert len(cross) == len(sends)
    assert {l[4] for l in cross} == {nodes[b.name].id, nodes[c.name].id}
    # the replies of the gen:call calls go to the caller's alias, across nodes
    alias = [l for l in links if l[2] == "alias_bytes"]
    assert len(alias) == 3 + 3 + 2 and all(l[3] != l[4] for l in alias)
    # and every send of the recording (pongs to a's pid on b and c too) found its receive
    assert unmatched_sends(rec) == []

    # causal past of the last receive on a reaches b's server; the merged order respects it
    last_recv = rec.events(kind=EventKind.RECEIVE, node_id=nodes[a.name].id, limit=1, descending=True)[0]
    past = rec.causal_past(last_recv, limit=1000)
    assert {e.node_id for e in past.events} >= {nodes[a.name].id, nodes[b.name].id}
    merged = happens_before_order(rec, rec.events(kind=(EventKind.SEND, EventKind.RECEIVE), limit=10_000))
    where = {e.id: i for i, e in enumerate(merged)}
    for send_id, recv_id, *_ in links:
        if send_id in where and recv_id in where:
            assert where[send_id] < where[recv_id]

    # the query language filters by node
    assert _count(run_query(rec, f"receives on {b.name} | count")) == 3 + 3 + 2 + 2
    assert _count(run_query(rec, f'messages where node = "{c.name}" | count')) == 12
    by = {g.key["node"]: g.values["count"] for g in run_query(rec, "sends | count by node").groups}
    assert by == {a.name: 16, b.name: 10, c.name: 6}
    # one process of one node of a multi-node recording
    srv_b = next(p for p in rec.processes() if p.reg_name == "srv" and p.node_id == nodes[b.name].id)
    own = rec.events(pid=(srv_b.node_id, srv_b.idx), limit=1000)
    assert len(own) == 20 and all(e.node_id == srv_b.node_id for e in own)


async def test_cluster_members_and_the_overall_limit(cluster, store):
    a, b, c = cluster
    local = Node()
    try:
        names = await cluster_members(local, a.name, cookie=a.cookie)
        assert names[0] == a.name and set(names) == {a.name, b.name, c.name}
        cap = await capture_cluster(local, names, store, "capped", PLAN, cookie=a.cookie,
                                    limits=CaptureLimits(batch_ms=20, batch_size=10),
                                    cluster_limits=ClusterLimits(max_events=30))
        await _go(cap.conn, [b, c], 20)
        result = await cap.wait(60)
    finally:
        await local.close()
    assert result.end_reason == "max_events"
    assert {v["end_reason"] for v in result.extra["nodes"].values()} == {"stopped"}
    rec = store.recording(result.recording_id)
    assert rec.info.end_reason == "max_events"
    assert 30 <= rec.stats.event_count == result.stats.stored
    assert "overall limit of 30" in result.detail


async def test_clear_errors_name_the_node(cluster, store):
    a, b, _c = cluster
    local = Node()
    try:
        ghost = f"{unique('ghost')}@{short_host()}"
        with pytest.raises(ClusterError, match=f"cannot connect to node {ghost}"):
            await capture_cluster(local, [a.name, ghost], store, "x", PLAN, cookie=a.cookie)
        with pytest.raises(ClusterError, match="not a node name"):
            await capture_cluster(local, [a.name, "nohost"], store, "x", PLAN, cookie=a.cookie)
        with pytest.raises(UnknownNameError, match="no_such_proc"):
            await capture_cluster(local, [a.name, b.name], store, "x",
                                  CapturePlan(message_procs=(Registered("no_such_proc"),)), cookie=a.cookie)
    finally:
        await local.close()
    other = Node()
    try:
        with pytest.raises(ClusterError, match=f"cannot connect to node {b.name}"):
            await capture_cluster(other, [b.name], store, "x", PLAN, cookie="wrong-cookie")
    finally:
        await other.close()
    # no recording was left running
    assert all(i.end_reason is not None for i in store.recordings())
    # nothing was created on the nodes: the unknown name travelled as a binary
    probe = Node()
    try:
        conn = await probe.connect(a.name, cookie=a.cookie)
        assert await conn.rpc("erlang", "binary_to_existing_atom", [b"no_such_proc", A("utf8")]) is not None
    except Exception as exc:  # badarg: the atom does not exist on a
        assert "badarg" in str(exc)
    else:
        pytest.fail("no_such_proc became an atom on the node")
    finally:
        await probe.close()


async def test_clock_probes_bound_the_skew_and_agree(erl_node, otp28_node):
    """The NTP-style estimate on real nodes of both releases: each bound covers the true skew
    (0: one machine, one clock) and any two estimates agree within their bounds."""
    from elixir_scope.instrument.clock import ClockProbeError, probe_clock

    local = Node()
    try:
        for target in (erl_node, otp28_node):
            conn = await local.connect(target.name, cookie=target.cookie)
            unit = await conn.rpc("erlang", "convert_time_unit", [1, A("second"), A("native")])
            ests = [await probe_clock(conn, unit, probes=p) for p in (1, 4, 8, 8)]
            for e in ests:
                assert e.error > 0 and abs(e.skew) <= e.error, (target.kind, e)
            for x in ests:
                for y in ests:
                    assert abs(x.skew - y.skew) <= x.error + y.error
            with pytest.raises(ValueError, match="probes must be 1..64"):
                await probe_clock(conn, unit, probes=0)
        target = erl_node
        conn = local.connections[target.name]
        target.kill()
        with pytest.raises(ClockProbeError, match=target.name):
            for _ in range(50):
                await probe_clock(conn, 1_000_000_000, probes=1)
                await asyncio.sleep(0.05)
    finally:
        await local.close()
