"""Checkpoints of the diagnosis graph: a long diagnosis can be inspected step by step or
resumed (``thread_id``) from a SQLite checkpointer (``langgraph-checkpoint-sqlite``)."""

from __future__ import annotations

from contextlib import asynccontextmanager


# The types the graph's state holds, allowed when a checkpoint is read back (LangGraph refuses
# unregistered classes from msgpack checkpoints).
CHECKPOINT_TYPES = [("elixir_scope.agents.findings", n) for n in (
    "Report", "Finding", "Hypothesis", "KnowledgeRef", "Plan", "PlannedSpec", "Culprit", "Evidence", "StateDiff",
    "StateChange", "MessageArrow", "Location", "Narrative", "RoundRecord")]


def checkpoint_serde():
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


@asynccontextmanager
async def sqlite_checkpointer(path):
    """A SQLite checkpointer (``langgraph-checkpoint-sqlite``) for resumable diagnoses."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(str(path)) as conn:
        saver = AsyncSqliteSaver(conn, serde=checkpoint_serde())
        await saver.setup()
        yield saver
