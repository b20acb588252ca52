"""Diagnosis rounds on a real node: a first round that cannot decide is followed by a second,
planned from what the first showed, that does; a round limit and a time budget end it."""

from __future__ import annotations

from pathlib import Path

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.nodes import start_node

FIXTURE = Path(__file__).parent / "fixtures" / "delayed_crash" / "delayed_crash.ex"
SYMPTOM = "a while after we ask for a sync, the syncer crashes"


@pytest.fixture(scope="session")
def kb_dir(kb_index_dir) -> Path:
    return kb_index_dir


async def _diagnose(tmp_path, kb_dir, **kw):
    node = start_node("elixir", elixir_files=[FIXTURE], eval_code="{:ok, _} = DelayedCrash.start()")
    dist = Node()
    progress: list[str] = []

    async def on_progress(message: str, _fraction: float) -> None:
        progress.append(message)

    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "rounds.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_dir, progress=on_progress)
        report = await diagnose(DiagnosisInput(symptom=SYMPTOM, node=node.name, trigger="DelayedCrash.trigger()",
                                               seconds=1.0, **kw), ctx)
        return report, store, progress
    finally:
        await dist.close()
        node.stop()


async def test_an_undecided_round_is_followed_by_a_longer_one_that_decides(tmp_path, kb_dir):
    report, store, progress = await _diagnose(tmp_path, kb_dir, max_rounds=3)
    md = render_markdown(report)
    assert len(report.rounds) == 2, md
    first, second = report.rounds
    assert not first.decided and "record 3 s instead of 1 s" in first.next, md
    assert second.decided and second.seconds == 3.0, md
    assert first.recording_id != second.recording_id
    assert report.recording_id == second.recording_id
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    # the arithmetic on the string "10" read from the state: the innermost application frame
    assert (c.module, c.function, c.detail) == ("DelayedCrash.Syncer", "next_batch/1", '"10"'), md
    # every event the report cites is in the round's recording
    rec = store.recording(second.recording_id)
    for ev in report.root_cause.evidence + report.root_cause.causal_chain:
        if ev.event_id is not None:
            assert rec.event(ev.event_id).kind.name.lower() == ev.kind
    assert any(m.startswith("round 2:") for m in progress), progress
    assert "## Rounds" in md and "1. recording" in md and "Not decided (" in md   # a round's reason starts a sentence


async def test_the_round_limit_ends_an_undecided_diagnosis(tmp_path, kb_dir):
    report, _store, _progress = await _diagnose(tmp_path, kb_dir, max_rounds=1)
    assert report.verdict != "root_cause_found", render_markdown(report)
    assert len(report.rounds) == 1 and not report.rounds[0].decided
    assert "maximum of 1 round(s) is reached" in report.rounds[0].next
    assert "maximum of 1 round(s)" in report.narrative.text


async def test_bad_round_options_are_refused(tmp_path, kb_dir):
    with pytest.raises(ValueError, match="max_rounds must be at least 1"):
        await _diagnose(tmp_path, kb_dir, max_rounds=0)


async def test_an_interrupted_diagnosis_resumes_from_its_last_step(tmp_path, kb_dir):
    """The graph state is checkpointed after every step: a diagnosis stopped before it explained
    resumes from there (no new capture, no new detection) and ends with the same culprit."""
    from elixir_scope.agents.checkpoints import sqlite_checkpointer
    from elixir_scope.agents.graph import DiagnosisInterrupted, build_graph, resume

    node = start_node("elixir", elixir_files=[FIXTURE], eval_code="{:ok, _} = DelayedCrash.start()")
    dist = Node()
    steps: list[str] = []

    async def on_progress(message: str, _fraction: float) -> None:
        steps.append(message)

    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "resume.db")
        async with sqlite_checkpointer(tmp_path / "ckpt.db") as saver:
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_dir, progress=on_progress)
            with pytest.raises(DiagnosisInterrupted) as stopped:
                await diagnose(DiagnosisInput(symptom=SYMPTOM, node=node.name, trigger="DelayedCrash.trigger()",
                                              seconds=3.0, max_rounds=1), ctx,
                               checkpointer=saver, thread_id="t-resume", interrupt_before=["explain"])
            assert stopped.value.next_steps == ("explain",)
            snap = await build_graph(saver).aget_state({"configurable": {"thread_id": "t-resume"}})
            assert snap.values["hypotheses"] and snap.values.get("report") is None
            captured = len(store.recordings())
            steps.clear()
            report = await resume(ctx, checkpointer=saver, thread_id="t-resume")
    finally:
        await dist.close()
        node.stop()
    assert len(store.recordings()) == captured          # no new capture
    assert not any("recording" in s or "computing the evidence" in s for s in steps), steps
    assert report.root_cause.culprit.module == "DelayedCrash.Syncer"
    assert "detect" in report.timings_ms and "explain" in report.timings_ms
