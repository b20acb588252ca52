"""Results sent with plain ``send/2`` to the wrong process (tests/fixtures/astray_apps): a
worker the waiter spawned (``spawn``, ``Task.start``, ``spawn_link``) or asked (a GenServer given
the waiter's pid) sends its result to itself (``self()`` inside the spawned function), to a stale
pid kept in a state, to a registered name that is another process, or to the waiter in a shape or
with a ref its receive does not match; the waiter sits out its ``receive … after`` timeout.

Each app runs as a real node; the fact ``result_astray`` names the function that made the send,
with the send and the wait that kept waiting as evidence; its fixed twin gives no confident
culprit (the waiter gets its answer right after the send)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown

from support.dev_apps import DevApps

APPS = DevApps("astray_apps")

#: where each app's result went, as the fact says it
WHERE = {"sensor_poll": "its own sender", "thumb_batch": "its own sender", "ledger_audit": "the waiter",
         "dns_lookup": "the waiter", "fx_desk": "no live process of the recording holds", "mail_worker": "another process"}

EFFECT = {"fx_desk": "dead_send", "mail_worker": "no_effect_message"}


def _astray(sc, report, store) -> None:
    rc = report.root_cause
    assert rc.detector == "result_astray" and "message:result_astray" in rc.signatures, render_markdown(report)
    # the evidence: the send (what went where), then the wait that kept waiting and gave up
    assert rc.evidence[0].mfa and "sends" in rc.evidence[0].summary, rc.evidence
    assert "kept waiting" in rc.evidence[1].summary, rc.evidence
    assert WHERE[sc["name"]] in rc.title, rc.title
    assert report.rounds[0].decided, render_markdown(report)
    # what the destination made of it (a dead pid, a process that ignored it) is its effect
    if sc["name"] in EFFECT:
        effects = [f for f in report.findings if f.detector == EFFECT[sc["name"]]]
        assert effects and all(f.caused_by == rc.id for f in effects), render_markdown(report)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_sent_the_result_astray_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=_astray)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_sends_are_traced_only_for_waits_that_time_out_or_answers_that_never_come():
    from elixir_scope.agents.capture import capture_plan
    from elixir_scope.agents.planner import SEND_SPECS, Survey, plan

    sv = Survey(node="n@h", app_modules=["Shop.Cart"])
    for symptom in ("every read times out", "the client gets no answer from the worker",
                    "no submission is ever confirmed: never confirmed by the worker"):
        specs = [s.spec for s in plan(symptom, sv).specs]
        assert any(SEND_SPECS[0] in s for s in specs), symptom
    # a wrong-value symptom records no sends (they can be frequent)
    assert not any(":erlang.send" in s.spec for s in plan("the invoice shows the wrong customer name", sv).specs)
    # the spec compiles, with a guard on the message (never every send of the node), and keeps its return
    cp, errors = capture_plan(plan("every read times out", sv))
    assert not errors
    send = next(s for s in cp.specs if (s.module, s.function, s.arity) == ("erlang", "send", 2))
    assert send.returns and send.match_spec[0][1], send


QUIET = DevApps("astray_quiet")


@pytest.mark.parametrize("name", QUIET.names)
async def test_results_that_do_arrive_give_no_fact(name, tmp_path, kb_index_dir):
    """No bug: a gather that waits on a slower worker (the quick answers came long before the
    wait ended, and the slow one ended it), a worker that sends itself its next step and goes on
    working while its starter waits for its :DOWN. Sends are traced (the symptom says "times
    out") and no result_astray is made."""
    # one round, as a twin: later rounds only narrow a found problem down
    sc, report, store, shown = await QUIET.diagnose(name, tmp_path, kb_index_dir, fixed=False, max_rounds=1)
    try:
        assert shown is True, name   # the app did what it does
        assert not [f for f in report.findings if f.detector == "result_astray"], render_markdown(report)
        assert any(":erlang.send" in s.spec for s in report.plan.specs), report.plan   # the sends were recorded
    finally:
        store.close()
