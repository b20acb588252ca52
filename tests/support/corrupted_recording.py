"""A real recording of the ``corrupted_state`` example through its crash, for the replay tests.

The tracer agent records the state history of ``CorruptedState.Accounts`` (its callbacks
with arguments, returns and exceptions) and its messages while ``CorruptedState.trigger/0`` runs: two profile
casts (the second writes ``email: nil``), ``add_user``, ``get`` and the ``weekly_digest`` call
that crashes in ``String.downcase(nil)``. The node keeps running, so replays can use it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from elixir_scope.instrument.capture import CapturePlan, RunningModule
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.session import capture
from elixir_scope.store import TraceStore

from support.nodes import REPO, BeamNode, start_node

APP_FILES = [REPO / "examples" / "corrupted_state" / "lib" / "corrupted_state.ex"]
MODULE = "Elixir.CorruptedState.Accounts"


def start_corrupted_state() -> BeamNode:
    return start_node("elixir", elixir_files=APP_FILES, eval_code="{:ok, _} = CorruptedState.start()")


def record_crash(node: BeamNode, store_path: Path) -> int:
    """Capture the trigger's run into the store at ``store_path``; the recording's id."""
    store = TraceStore.open(store_path)

    async def record() -> int:
        async with Node() as n:
            conn = await n.connect(node.name, cookie=node.cookie)
            session = await capture(conn, store, "corrupted_state", CapturePlan(state_modules=(MODULE,), message_procs=(RunningModule(MODULE),)))
            await conn.rpc("Elixir.Code", "eval_string", [b"CorruptedState.trigger(); Process.sleep(300)"],
                           timeout=30)
            return (await session.stop()).recording_id

    try:
        return asyncio.run(record())
    finally:
        store.close()
