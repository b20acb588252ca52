"""One diagnosis round on a fresh node: start an Elixir app from its source, diagnose a symptom
with its trigger in one round, and return the report with the facts of the round's recording
(tests of the evidence layer that need the plan and the capture a diagnosis makes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.evidence import FactBook, build_facts
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.agents.view import RecordingView
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore

from .nodes import start_node


async def diagnose_once(tmp: Path, kb_index_dir: Path, source: str, *, app: str, symptom: str,
                        trigger: str | None = None, boot: str | None = None,
                        facts_symptom: bool = True, with_sources: bool = False,
                        views: list | None = None) -> tuple[Any, FactBook]:
    """Start ``source`` (``{:ok, _} = App.start()``, or the Elixir ``boot``) on a fresh node,
    diagnose ``symptom`` with ``trigger`` (``App.trigger()``) in one round of 1 s, and return
    the report and the facts of its recording (built for ``symptom``, or for no symptom when
    ``facts_symptom`` is false). ``with_sources``: the diagnosis reads the source too (the
    returned facts are built without it). ``views``: the recording's view is appended to it."""
    src = tmp / "app.ex"
    src.write_text(source)
    node = start_node("elixir", elixir_files=[src], eval_code=boot or f"{{:ok, _}} = {app}.start()")
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp / "d.db")
        try:
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
            report = await diagnose(DiagnosisInput(symptom=symptom, node=node.name, trigger=trigger or f"{app}.trigger()",
                                                   seconds=1.0, max_rounds=1,
                                                   **({"source_path": str(tmp)} if with_sources else {})), ctx)
            view = RecordingView.from_recording(store.recording(report.recording_id))
            if views is not None:
                views.append(view)
            return report, build_facts(view, symptom if facts_symptom else "")
        finally:
            store.close()
    finally:
        await dist.close()
        node.stop()
