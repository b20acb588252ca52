"""A diagnosis finding confirmed by replay on the live node, with its failing ExUnit test.

The real diagnosis of the ``corrupted_state`` app blames the ``{:update_profile, 2, %{email:
nil}}`` cast for the digest's crash (a state diff, then the exception). ``check_by_replay``
replays the crashed server's recorded callbacks with and without that cast — confirmed — and
the generated test, run once, fails as recorded. Pointed at the harmless first cast instead,
the same check refutes it."""

from __future__ import annotations

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.replay_check import check_by_replay
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.counterfactual import CounterfactualVerdict
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.replay_recording import recorded_run
from elixir_scope.store import EventKind, TraceStore
from support.corrupted_recording import APP_FILES
from test_diagnose import EXAMPLES, scenario, start_scenario


@pytest.fixture(scope="module")
def live_node():
    node = start_scenario("corrupted_state")
    yield node
    node.stop()


async def test_the_diagnosis_is_confirmed_by_replay(live_node, kb_index_dir, tmp_path):
    sc = scenario("corrupted_state")
    store = TraceStore.open(tmp_path / "diag.db")
    try:
        async with Node() as dist:
            conn = await dist.connect(live_node.name, cookie=live_node.cookie)
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
            report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=live_node.name, trigger=sc["trigger"],
                                                   seconds=1.5, source_path=str(EXAMPLES / "corrupted_state")), ctx)
            rec = store.recording(report.recording_id)
            finding = report.root_cause
            assert finding.state_diffs, "the diagnosis cites the state change"

            check = await check_by_replay(conn, rec, finding, run_test_with=APP_FILES)
            assert check.verdict is CounterfactualVerdict.CONFIRMED, check.reason
            (guilty,) = check.confirmed_events
            assert rec.event(guilty).payload[0][0].name == "update_profile"
            assert rec.event(guilty).payload[0][1] == 2
            assert check.exunit_fails_as_recorded is True, check.exunit_run.output[-2000:]
            data = check.as_dict()
            assert data["verdict"] == "confirmed" and data["exunit"]["fails_as_recorded"] is True
            assert "FunctionClauseError" in data["exunit"]["banner"]

            # the same check pointed at the harmless first cast: refuted
            run = recorded_run(rec, check.process, until_event=check.crash_event)
            first_cast = int(run.invocations[0].source.split()[1])
            first_state = next(e for e in rec.events(kind=EventKind.STATE, pid=check.process, limit=50)
                               if e.id > first_cast)
            diff = finding.state_diffs[0].model_copy(update={"event_id": first_state.id})
            decoy = finding.model_copy(update={"state_diffs": [diff]})
            refuted = await check_by_replay(conn, rec, decoy, max_suspects=1)
            assert refuted.verdict is CounterfactualVerdict.REFUTED, refuted.reason
            assert refuted.exunit_run is None and "handle_cast" in refuted.exunit_source

            # a finding with no crashed callback has nothing to replay
            calm = finding.model_copy(update={"evidence": [], "causal_chain": []})
            assert await check_by_replay(conn, rec, calm) is None
    finally:
        store.close()
