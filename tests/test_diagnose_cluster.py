"""Diagnosis across nodes: a scenario running on two real Elixir nodes is recorded on both
(one recording, one ``nodes`` row per node) while its trigger runs on the first; the report must
name the culprit — on the node where it runs — citing only events of that recording. The
knowledge base is real (Chroma + the packaged model)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from mcp import Client

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.findings import Report
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import TraceStore
from support.cluster_scenarios import EXAMPLES, scenario, start_cluster_scenario, trigger
from support.nodes import start_node
from support.reports import assert_evidence_exists


def tokens(literal: str) -> set[str]:
    return set(re.findall(r'"[^"]*"|:?[\w.$]+', literal))


@pytest.fixture(scope="session")
def kb_dir(kb_index_dir) -> Path:
    return kb_index_dir


@pytest.fixture(scope="module")
def cycle_nodes():
    """The cross-node cycle scenario's two nodes (billing first, accounts second). Every
    diagnosis re-runs the trigger: the servers crash on their call timeouts and are restarted,
    ready for the next one."""
    nodes = start_cluster_scenario("cross_node_cycle")
    yield nodes
    for n in nodes:
        n.stop()


async def run_cluster_diagnosis(name: str, nodes, tmp_path: Path, kb_dir: Path, seconds: float):
    sc = scenario(name)
    dist = Node()
    try:
        conns = [await dist.connect(n.name, cookie=n.cookie) for n in nodes]
        store = TraceStore.open(tmp_path / "diag.db")
        ctx = DiagnosisContext(store=store, conn=conns[0], peers=conns[1:], dist_node=dist, knowledge_dir=kb_dir)
        report = await diagnose(DiagnosisInput(
            symptom=sc["symptom"], node=nodes[0].name, nodes=[n.name for n in nodes[1:]],
            trigger=trigger(name, nodes), seconds=seconds, source_path=str(EXAMPLES / name), max_rounds=1), ctx)
        return report, store, [n.name for n in nodes]
    finally:
        await dist.close()


def assert_culprit(report: Report, names: list[str]) -> None:
    expected = scenario("cross_node_cycle")["culprit"]
    md = render_markdown(report)
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    assert (c.module, c.function) == (expected["module"], expected["function"]), md
    assert tokens(c.detail) == tokens(expected["detail"]), (c.detail, expected["detail"])
    assert c.node == names[expected["node"]], md          # the directory runs on the second node
    assert f"on node `{c.node}`" in md


async def test_cross_node_call_cycle_names_the_culprit_and_its_node(tmp_path, kb_dir, cycle_nodes):
    report, store, names = await run_cluster_diagnosis("cross_node_cycle", cycle_nodes, tmp_path, kb_dir, seconds=3.5)
    # one recording holds both nodes, and the report says so
    rec = store.recording(report.recording_id)
    assert sorted(n.name for n in rec.nodes()) == sorted(names)
    assert report.nodes == [n.name for n in rec.nodes()]
    assert_culprit(report, names)
    c = report.root_cause.culprit
    cycle = next(f for f in report.findings if f.detector == "call_cycle")
    assert "call:cycle:across_nodes" in cycle.signatures
    assert names[0] in cycle.title and names[1] in cycle.title
    # the cycle's sends are on both nodes: a call from each side
    sends = [rec.event(e.event_id) for e in cycle.evidence if e.kind == "send"]
    assert {rec.context.nodes[s.node_id].name for s in sends} == set(names)
    assert any(h.id == "distributed-call-cycle" for h in report.hypotheses), render_markdown(report)
    assert assert_evidence_exists(report, store) >= 3
    assert report.fix_location is not None and report.fix_location.file.endswith("directory.ex")
    # the saved recording gives the same answer offline (no node, no peers)
    again = await diagnose(DiagnosisInput(symptom=scenario("cross_node_cycle")["symptom"],
                                          recording_id=report.recording_id,
                                          source_path=str(EXAMPLES / "cross_node_cycle")),
                           DiagnosisContext(store=store, knowledge_dir=kb_dir))
    assert again.root_cause.culprit == c
    assert json.loads(again.to_json())["nodes"] == report.nodes
    store.close()


def test_cli_diagnose_with_cluster_records_every_connected_node(tmp_path, kb_dir, cycle_nodes, capsys, monkeypatch):
    """`--cluster` adds every node the target is connected to."""
    first, second = cycle_nodes
    home = tmp_path / "home"
    home.mkdir()
    (home / "kb-index").symlink_to(kb_dir)   # the session's knowledge index, where the CLI looks
    monkeypatch.setenv("ELIXIR_SCOPE_HOME", str(home))
    monkeypatch.setenv("ELIXIR_SCOPE_COOKIE", first.cookie)

    async def connect_them():  # the nodes meet at their first remote call; here before --cluster asks
        async with Node() as dist:
            conn = await dist.connect(first.name, cookie=first.cookie)
            assert await conn.rpc("net_kernel", "connect_node", [Atom(second.name)]) is True
    asyncio.run(connect_them())
    code = main(["diagnose", first.name, scenario("cross_node_cycle")["symptom"], "--cluster",
                 "--trigger", trigger("cross_node_cycle", cycle_nodes), "--seconds", "3.5", "--max-rounds", "1",
                 "--sources", str(EXAMPLES / "cross_node_cycle"), "--store", str(tmp_path / "cli.db"), "--json"])
    out = capsys.readouterr().out
    report = Report.model_validate(json.loads(out))
    assert code == 0
    assert sorted(report.nodes) == sorted([first.name, second.name])
    assert_culprit(report, [first.name, second.name])


def test_cli_refuses_further_nodes_with_a_recording(tmp_path, capsys):
    code = main(["diagnose", "--node", "a@h", "--node", "b@h", "why?", "--recording", "1",
                 "--store", str(tmp_path / "x.db")])
    err = capsys.readouterr().err
    assert code != 0 and "takes no further nodes" in err


async def test_mcp_diagnose_with_a_nodes_list(tmp_path, kb_dir, cycle_nodes):
    first, second = cycle_nodes
    sc = scenario("cross_node_cycle")
    server = build_server(ServerConfig(store_path=tmp_path / "t.db", knowledge_dir=kb_dir, cookie=first.cookie,
                                       default_node=first.name, allow_mutations=True))
    async with Client(server) as client:
        r = await client.call_tool("diagnose", {
            "symptom": sc["symptom"], "trigger": trigger("cross_node_cycle", cycle_nodes), "seconds": 3.5,
            "max_rounds": 1, "source_path": str(EXAMPLES / "cross_node_cycle"), "nodes": [second.name]})
        assert not r.is_error, r.content[0].text
        report = Report.model_validate(r.structured_content["report"])
        assert sorted(report.nodes) == sorted([first.name, second.name])
        assert_culprit(report, [first.name, second.name])
        bad = await client.call_tool("diagnose", {"symptom": sc["symptom"], "recording": report.recording_id,
                                                  "nodes": [second.name]})
        assert bad.is_error and "takes no `nodes`" in bad.content[0].text


async def test_sends_to_a_node_that_went_away_name_where_the_pid_was_kept(tmp_path, kb_dir):
    """The mailer node stops during the capture (the trigger stops it); the web node keeps
    casting to the pid it cached at init. The report names that init, on the web node."""
    expected = scenario("node_gone")["culprit"]
    nodes = start_cluster_scenario("node_gone")
    try:
        report, store, names = await run_cluster_diagnosis("node_gone", nodes, tmp_path, kb_dir, seconds=2.5)
    finally:
        for n in nodes:
            n.stop()
    md = render_markdown(report)
    rec = store.recording(report.recording_id)
    ends = {n.name: n.end_reason for n in rec.nodes()}
    assert ends[names[1]] == "node_down", ends         # the mailer's part ended when it went away
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    assert (c.module, c.function) == (expected["module"], expected["function"]), md
    assert c.detail == expected["detail"], md
    assert c.node == names[expected["node"]], md
    gone = next(f for f in report.findings if f.detector == "send_to_gone_node")
    assert {"dist:send_to_gone_node", "dist:nodedown"} <= set(gone.signatures)
    sends = [e for e in gone.evidence if e.kind == "send"]
    assert len(sends) == 2 and names[1] in gone.summary   # bob's and cy's e-mails, to the mailer's node
    for ev in sends:
        assert rec.event(ev.event_id).kind.name.lower() == "send"
    assert report.hypotheses[0].id == "send-to-gone-node", md
    assert assert_evidence_exists(report, store) >= 2
    store.close()


def test_the_demo_offers_only_one_node_scenarios_and_says_why_not_the_others():
    from elixir_scope.cli.demo import DemoError, scenario_names, start_scenario

    names = scenario_names()
    assert "call_cycle" in names and "cross_node_cycle" not in names and "node_gone" not in names
    with pytest.raises(DemoError, match="runs on 2 nodes"):
        start_scenario("cross_node_cycle")


async def diagnose_first_node_only(cycle_nodes, tmp_path: Path, kb_dir: Path, *, can_widen: bool) -> tuple[Report, TraceStore]:
    """Diagnose the cross-node cycle naming only the billing node, two rounds at most; with
    ``can_widen`` the diagnosis may connect further nodes (same cookie)."""
    first = cycle_nodes[0]
    sc = scenario("cross_node_cycle")
    dist = Node()
    try:
        conn = await dist.connect(first.name, cookie=first.cookie)
        store = TraceStore.open(tmp_path / "one-node.db")
        reach = (lambda name: dist.connect(name, cookie=first.cookie)) if can_widen else None
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_dir, connect_node=reach)
        report = await diagnose(DiagnosisInput(
            symptom=sc["symptom"], node=first.name, trigger=trigger("cross_node_cycle", cycle_nodes), seconds=3.5,
            source_path=str(EXAMPLES / "cross_node_cycle"), max_rounds=2), ctx)
    finally:
        await dist.close()
    return report, store


async def test_given_one_node_the_diagnosis_widens_to_the_node_its_calls_wait_on(tmp_path, kb_dir, cycle_nodes):
    """Only the billing node is named. Round 1 sees billing stuck in a call to the directory on a
    node nobody recorded, so it does not decide; round 2 records that node too and finds the
    cycle, with the culprit on the accounts node."""
    first, second = cycle_nodes
    report, store = await diagnose_first_node_only(cycle_nodes, tmp_path, kb_dir, can_widen=True)
    assert [r.decided for r in report.rounds] == [False, True], [r.next for r in report.rounds]
    assert f"record {second.name} too" in report.rounds[0].next
    assert [n.name for n in store.recording(report.rounds[0].recording_id).nodes()] == [first.name]
    assert sorted(report.nodes) == sorted([first.name, second.name])
    assert_culprit(report, [first.name, second.name])
    store.close()


async def test_without_a_way_to_reach_it_the_report_says_which_node_to_record(tmp_path, kb_dir, cycle_nodes):
    report, store = await diagnose_first_node_only(cycle_nodes, tmp_path, kb_dir, can_widen=False)
    assert len(report.rounds) == 1 and report.nodes == []
    assert any(f"waits in a call to {cycle_nodes[1].name}, which was not recorded" in g for g in report.gaps), \
        report.gaps
    store.close()


async def test_a_pid_kept_from_before_its_node_restarted_is_an_address_that_is_gone(tmp_path, kb_dir):
    """The mailer node restarts (same name, a new run) before the capture: the web node still
    casts to the pid of the old run. Both nodes are recorded and up; the pid's creation says it
    belongs to a run that is gone."""
    web, mailer = start_cluster_scenario("node_gone")
    files = [EXAMPLES / "node_gone" / f for f in scenario("node_gone")["nodes"][0]["files"]]
    mailer.stop(graceful=True)
    mailer = start_node("elixir", sname=mailer.sname, cookie=mailer.cookie, elixir_files=files,
                        eval_code="{:ok, _} = NodeGone.start_mailer()")
    dist = Node()
    try:
        conns = [await dist.connect(n.name, cookie=n.cookie) for n in (web, mailer)]
        store = TraceStore.open(tmp_path / "restart.db")
        ctx = DiagnosisContext(store=store, conn=conns[0], peers=conns[1:], dist_node=dist, knowledge_dir=kb_dir)
        report = await diagnose(DiagnosisInput(
            symptom="since the mailer node was restarted, welcome e-mails are silently lost; no error anywhere",
            node=web.name, nodes=[mailer.name], seconds=1.5, source_path=str(EXAMPLES / "node_gone"), max_rounds=1,
            trigger='for to <- ["dan@example.com", "eve@example.com"], do: NodeGone.Notifier.notify(to, "welcome")'),
            ctx)
    finally:
        await dist.close()
        web.stop()
        mailer.stop()
    md = render_markdown(report)
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    assert (c.module, c.function, c.node) == ("NodeGone.Notifier", "init/1", web.name), md
    gone = next(f for f in report.findings if f.detector == "send_to_gone_node")
    assert "earlier run" in gone.summary and len([e for e in gone.evidence if e.kind == "send"]) == 2, gone.summary
    store.close()


def test_every_nodes_timestamps_land_in_the_first_nodes_frame():
    """ts + time_offset is a node's clock on the recording's common clock; the view puts it in
    the first node's monotonic frame, whatever the node's time unit."""
    from elixir_scope.agents.view_build import _Frames
    from elixir_scope.store.events import NodeInfo

    a = NodeInfo(1, 1, "a@h", "25", 1_000_000_000, 5_000_000_000, 0)       # ns, offset 5 s
    b = NodeInfo(2, 1, "b@h", "28", 1_000_000, 9_000_000, 0)               # µs, offset 9 s
    frame = _Frames([a, b])
    assert frame(1, 123) == 123                                            # the first node: unchanged
    # b at its 1 s is common time 10 s, which is a's 5 s
    assert frame(2, 1_000_000) == 5_000_000_000
    assert frame(3, 42) == 42                                              # a node the recording lacks


RELAY = '''
defmodule Relay do
  use GenServer
  def start_link(peer), do: GenServer.start_link(__MODULE__, peer, name: __MODULE__)
  def relay(x), do: GenServer.cast(__MODULE__, {:relay, x})
  @impl true
  def init(peer), do: {:ok, %{sink: :rpc.call(peer, :erlang, :whereis, [:sink]), relayed: 0}}
  @impl true
  def handle_cast({:relay, x}, state) do
    send(state.sink, {:event, x})
    {:noreply, %{state | relayed: state.relayed + 1}}
  end
end
'''


async def test_an_otp28_node_that_goes_away_is_found_from_an_otp25_recording(tmp_path, kb_dir):
    """Two releases: the sink is a plain process on an OTP 28 node, the relay an Elixir GenServer
    on OTP 25 that caches the sink's pid at init. The OTP 28 node stops mid-capture; the relay's
    later sends are the fact, and its init is the culprit."""
    source = tmp_path / "relay.ex"
    source.write_text(RELAY)
    cookie = "relaytest" + str(abs(hash(str(tmp_path))) % 10_000)
    sink = start_node("otp28", cookie=cookie,
                      eval_code="Loop = fun L() -> receive _ -> L() end end, register(sink, spawn(Loop))")
    relay = start_node("elixir", cookie=cookie, elixir_files=[source],
                       eval_code=f'{{:ok, pid}} = Relay.start_link(:"{sink.name}"); Process.unlink(pid)')
    dist = Node()
    try:
        conns = [await dist.connect(n.name, cookie=cookie) for n in (relay, sink)]
        store = TraceStore.open(tmp_path / "otp28.db")
        ctx = DiagnosisContext(store=store, conn=conns[0], peers=conns[1:], dist_node=dist, knowledge_dir=kb_dir)
        report = await diagnose(DiagnosisInput(
            symptom="after the sink node went down, relayed events are silently lost", node=relay.name,
            nodes=[sink.name], seconds=2.5, max_rounds=1, focus=["Relay"],
            trigger=(f'spawn(fn -> Relay.relay(1); Process.sleep(300); :rpc.call(:"{sink.name}", :init, :stop, []); '
                     'Process.sleep(1500); Relay.relay(2); Relay.relay(3) end)')), ctx)
    finally:
        await dist.close()
        relay.stop()
        sink.stop()
    md = render_markdown(report)
    rec = store.recording(report.recording_id)
    assert {n.otp_release for n in rec.nodes()} >= {"25", "28"}, [n.otp_release for n in rec.nodes()]
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    assert (c.module, c.function, c.node) == ("Relay", "init/1", relay.name), md
    assert c.detail.startswith("#PID<0."), md   # the stale pid (the sink itself never showed in the events)
    store.close()
