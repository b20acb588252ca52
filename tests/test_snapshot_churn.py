"""A snapshot of a node where processes come and go: ``process_count`` is what the snapshot could
read (plus any past its ``max_processes`` cut), never a process that ended between the list of
processes and reading its info — the count and the list agree. Before, the count was the length
of ``processes()`` and a process gone meanwhile made them differ (seen as a flake of
test_agent.py's sample-app snapshot under load)."""

from __future__ import annotations

import pytest
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.snapshot import snapshot
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node


@pytest.fixture(scope="module")
def churn_node(tmp_path_factory):
    node = start_node("erl", code_paths=[compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))])
    yield node
    node.stop()


async def test_count_and_list_agree_while_processes_come_and_go(churn_node):
    async with Node() as node:
        conn = await node.connect(churn_node.name, cookie=churn_node.cookie)
        _, spawner = await conn.rpc("es_churn", "start", [])
        try:
            for _ in range(8):
                snap = await snapshot(conn)
                assert not snap.truncated
                assert snap.process_count == len(snap.processes), (snap.process_count, len(snap.processes))
        finally:
            await conn.rpc("es_churn", "stop", [spawner])


async def test_a_cut_snapshot_counts_what_it_did_not_read(churn_node):
    async with Node() as node:
        conn = await node.connect(churn_node.name, cookie=churn_node.cookie)
        snap = await snapshot(conn, max_processes=5)
        assert snap.truncated and len(snap.processes) <= 5 and snap.process_count > 5
        assert await conn.rpc("erlang", "whereis", [Atom("code_server")]) is not None
