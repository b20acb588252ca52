"""Facts from a real node: start an Elixir app, record it while one function runs, and build
the evidence layer's facts from that recording (tests of ``agents/evidence`` analyses)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from elixir_scope.agents.evidence import FactBook, build_facts
from elixir_scope.agents.view import RecordingView
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore

from .nodes import start_node


def record_facts(tmp: Path, source: str, *, start: str, run: str, specs: list[str],
                 state_modules: tuple[str, ...] = (), lifecycle_procs: Any = None,
                 before_run: Callable[[Any, CaptureSession], Awaitable[None]] | None = None,
                 views: list[RecordingView] | None = None, code: Any = None, symptom: str = "") -> FactBook:
    """Start ``source`` on a fresh node with ``start`` (Elixir), record ``specs`` while
    ``run`` (``"Elixir.Mod"``, a function of arity 0 named ``run``) runs over rpc, and return
    the facts (for ``symptom``, the user's words) — failing when the capture dropped events or
    an analysis failed. ``before_run`` (connection, session) runs once the capture is on, before
    ``run``; ``lifecycle_procs`` (CapturePlan's) when spawns, exits and links are needed too.
    ``code``: the sources' pitfalls (``CodeEvidence``) for the code facts; ``views`` receives
    the recording's view."""
    view = record_view(tmp, source, start=start, run=run, specs=specs, state_modules=state_modules,
                       lifecycle_procs=lifecycle_procs, before_run=before_run)
    if views is not None:
        views.append(view)
    book = build_facts(view, symptom, code=code)
    assert not book.errors, book.errors
    return book


def record_view(tmp: Path, source: str, *, start: str, run: str, specs: list[str],
                state_modules: tuple[str, ...] = (), lifecycle_procs: Any = None,
                before_run: Callable[[Any, CaptureSession], Awaitable[None]] | None = None) -> RecordingView:
    """The recording :func:`record_facts` makes, as a view (to compute facts for several symptoms)."""
    src = tmp / "app.ex"   # one app per tmp folder
    src.write_text(source)
    node = start_node("elixir", elixir_files=[src], eval_code="{:ok, _} = " + start)

    async def record() -> RecordingView:
        dist = Node()
        try:
            conn = await dist.connect(node.name, cookie=node.cookie)
            store = TraceStore.open(tmp / "facts.db")
            extra = {"lifecycle_procs": lifecycle_procs} if lifecycle_procs is not None else {}
            plan = CapturePlan(specs=tuple(compile_spec(s) for s in specs), state_modules=state_modules,
                               message_procs="all", **extra)
            rec = store.create_recording("facts", spec=plan.describe(), limits={})
            session = await CaptureSession.start(conn, rec, plan)
            if before_run is not None:
                await before_run(conn, session)
            await conn.rpc(run, "run", [])
            result = await session.stop()
            assert result.stats.dropped == 0
            return RecordingView.from_recording(store.recording(result.recording_id))
        finally:
            await dist.close()

    try:
        return asyncio.run(record())
    finally:
        node.stop()

