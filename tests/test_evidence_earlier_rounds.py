"""A stale pid whose process died in an earlier round: round 2's recording holds the sends to the
dead pid but not its exit, so only round 1 knows what the pid stood for. The view of a recording
looks the dead pids up in the store's earlier recordings of the same node run
(``RecordingView.earlier_names``), so the culprit's detail names the process the stale pid stood
for, not a raw pid — live and when the recording is diagnosed again (examples/stale_pid, real node)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.view import RecordingView
from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore
from support.nodes import start_node

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stale_pid"
SYMPTOM = "e-mail notifications stopped going out and never came back"


async def _two_rounds(node, db: Path) -> tuple[TraceStore, int, int]:
    """Two captures of the same trigger: the mailer recycles itself in the first, and the
    dispatcher sends to its dead pid in the second."""
    store = TraceStore.open(db)
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        plan = CapturePlan(specs=tuple(compile_spec(s) for s in ("Notify.Dispatcher :: return", "Notify.Mailer :: return")),
                           message_procs="all", lifecycle_procs="all",
                           state_modules=("Elixir.Notify.Dispatcher", "Elixir.Notify.Mailer"))
        ids = []
        for n in (1, 2):
            rec = store.create_recording(f"round {n}", spec=plan.describe(), limits={})
            session = await CaptureSession.start(conn, rec, plan)
            await conn.rpc(Atom("Elixir.Notify"), "trigger", [])
            await asyncio.sleep(0.5)
            ids.append((await session.stop()).recording_id)
        return store, ids[0], ids[1]
    finally:
        await dist.close()


def test_a_pid_that_died_in_an_earlier_round_is_named_by_that_round(tmp_path: Path):
    node = start_node("elixir", elixir_files=sorted((EXAMPLE / "lib").glob("*.ex")), eval_code="{:ok, _} = Notify.start()")
    try:
        store, first, second = asyncio.run(_two_rounds(node, tmp_path / "d.db"))
    finally:
        node.stop()
    try:
        view = RecordingView.from_recording(store.recording(second))
        dead = {str(d.to) for d in view.dead_sends}
        assert len(dead) == 1, dead  # round 2 sends to one dead pid ...
        assert not [e for e in view.exits if view.proc(e.pid).pid in dead]  # ... whose exit is in round 1
        assert view.earlier_names == {next(iter(dead)): "Notify.Mailer"}  # from round 1's processes
        named = build_facts(view, SYMPTOM).of_kind("dead_send")
        assert [(f.culprit.module, f.culprit.function, f.culprit.detail) for f in named] == \
            [("Notify.Dispatcher", "init/1", "Notify.Mailer")]
        view.earlier_names = {}  # round 2 alone cannot tell whose pid it was
        alone = build_facts(view, SYMPTOM).of_kind("dead_send")
        assert [(f.culprit.module, f.culprit.function) for f in alone] == [("Notify.Dispatcher", "init/1")]
        assert alone[0].culprit.detail.startswith("#PID<")
        # round 1 itself looks nothing up: what was recorded later cannot name it
        assert RecordingView.from_recording(store.recording(first)).earlier_names == {}
    finally:
        store.close()
