"""The last-resort lead (agents/leads.py): when no fact, no hypothesis and no failing, empty,
raising or slow call names anything, the function the reproduction ran that best fits the
symptom — its words in the function's name, module and code, its return in what the trigger got
back, its depth, whether it computes, the values the symptom states — is the report's weak
suspect (detector ``lead``, confidence 0.15–0.25, ``weak`` set), never a root cause.

tests/fixtures/lead_apps holds apps whose bug no fact explains — a tap board whose private
helper names each tap by its brewery instead of its beer (no crash, no failure, no number) —
each with its fixed twin, which may still get a weak lead but never a confident culprit. The
ranking is tested below as a pure function, on the real recording and on hand-made calls."""

from __future__ import annotations

from elixir_scope.agents.leads import (MIN_SCORE, Scored, confidence, score_functions, trigger_parts, word_lead)
from elixir_scope.agents.lead_source import Body
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.view import Call, RecordingView
from elixir_scope.instrument.etf import Atom
from support.dev_apps import DevApps

APPS = DevApps("lead_apps")


async def test_the_tap_board_names_the_helper_as_a_weak_lead(tmp_path, kb_index_dir):
    sc, report, store, shown = await APPS.diagnose("tap_board", tmp_path, kb_index_dir, fixed=False, max_rounds=1)
    try:
        assert shown is True
        md = render_markdown(report)
        # no fact explains it: nothing confident, and the lead points at the helper
        assert report.root_cause is None and not report.hypotheses, md
        s = report.suspect
        assert s is not None and s.detector == "lead", md
        assert (s.culprit.module, s.culprit.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), md
        assert 0.15 <= s.confidence <= 0.25 and s.weak, md
        assert "'brewery'" in s.summary and "got back" in s.summary, s.summary
        # the ranking as a pure function of the recording: the helper first, the callback below it
        view = RecordingView.from_recording(store.recording(report.recording_id))
        order = score_functions(view, sc["symptom"])
        names = [o.mfa for o in order]
        assert names[0] == "Taproom.Board.tap_name/1", [(o.mfa, o.score, o.reasons) for o in order]
        assert names.index("Taproom.Board.tap_name/1") < names.index("Taproom.Cellar.handle_call/3")
        assert '"Northgate"' in trigger_parts(view)
        # the sources add their words: the helper's body speaks of the brewery
        with_body = score_functions(view, sc["symptom"], {("Taproom.Board", "tap_name/1"): Body(words={"brewery"})})
        assert with_body[0].score >= order[0].score
        # a symptom that speaks of nothing the code does names nothing
        assert word_lead(view, "something is off") is None
    finally:
        store.close()


async def test_the_fixed_twin_gives_no_confident_culprit(tmp_path, kb_index_dir):
    sc, report, store, shown = await APPS.diagnose("tap_board", tmp_path, kb_index_dir, fixed=True)
    try:
        assert shown is False
        assert report.verdict != "root_cause_found" and report.root_cause is None, render_markdown(report)
        if report.suspect is not None and report.suspect.detector == "lead":
            assert report.suspect.confidence <= 0.25 and report.suspect.weak
    finally:
        store.close()


# ---------------------------------------------------------------- the ranking on hand-made calls
def _view(calls: list[Call], workers: set[int]) -> RecordingView:
    return RecordingView(recording_id=1, time_unit=1_000_000, start_ts=0, procs={}, calls=calls, messages=[],
                         exits=[], spawns=[], states=[], samples=[], gaps=[], rpc_workers=workers)


def _call(i, module, fun, args, value, depth, pid=2, parent=None) -> Call:
    return Call(call_id=i, pid=pid, module="Elixir." + module, function=fun, arity=len(args), ts=i, args=args,
                end_id=i + 100, end_ts=i + 1, outcome="return", value=value, depth=depth, parent=parent)


def _shop() -> RecordingView:
    trig = _call(1, "Shop", "trigger", [], [(b"tea", 450)], 0, pid=1)
    api = _call(2, "Shop.Api", "quote", [b"tea"], [(b"tea", 450)], 1, pid=1, parent=trig)
    cb = _call(3, "Shop.Server", "handle_call", [(Atom("quote"), b"tea"), None, {}], (Atom("reply"), [(b"tea", 450)], {}), 0)
    price = _call(4, "Shop.Pricing", "shipping_fee", [b"tea", 3], 450, 1, parent=cb)
    log = _call(5, "Shop.Audit", "note", [b"quote"], Atom("ok"), 1, parent=cb)
    return _view([trig, api, cb, price, log], {1})


def test_a_deep_function_whose_return_the_reproduction_got_and_whose_name_the_symptom_says_wins():
    order = score_functions(_shop(), "the shipping fee on the quote is too high")
    assert order[0].mfa == "Shop.Pricing.shipping_fee/2", [(o.mfa, o.score, o.reasons) for o in order]
    top = order[0]
    assert top.from_symptom and top.score >= MIN_SCORE
    assert any("got back" in r for r in top.reasons) and any("'shipping'" in r for r in top.reasons), top.reasons
    # the trigger's own outermost call is never a candidate; a callback that only dispatches ranks low
    assert "Shop.trigger/0" not in [o.mfa for o in order]
    assert order[-1].mfa in ("Shop.Server.handle_call/3", "Shop.Audit.note/1")


def test_a_stated_value_in_a_return_counts():
    order = score_functions(_shop(), "the quote says 450 for one tin")
    assert order[0].mfa in ("Shop.Pricing.shipping_fee/2", "Shop.Api.quote/1")
    assert any("450" in r for r in order[0].reasons), order[0].reasons


def test_no_word_and_no_stated_value_no_lead():
    assert word_lead(_shop(), "customers are unhappy") is None


def test_the_body_s_words_and_computations_count_only_from_the_sources():
    symptom = "the fee for heavy parcels is wrong"
    plain = {o.mfa: o for o in score_functions(_shop(), symptom)}
    bodies = {("Shop.Audit", "note/1"): Body(words={"heavy", "parcel"}, operators=2)}
    read = {o.mfa: o for o in score_functions(_shop(), symptom, bodies)}
    assert read["Shop.Audit.note/1"].score > plain["Shop.Audit.note/1"].score
    assert any("computes" in r for r in read["Shop.Audit.note/1"].reasons)


def test_confidence_stays_a_lead_s():
    assert confidence(0.0) == 0.15 and confidence(100.0) == 0.25
    assert isinstance(Scored(mfa="M.f/1", module="M", function="f/1", calls=[]).reasons, list)


def test_the_data_path_credits_the_call_that_made_the_value_not_those_that_passed_it_on():
    # the API function returns the helper's list; the helper ran while the API function did
    trig = Call(call_id=1, pid=1, module="Elixir.Shop", function="trigger", arity=0, ts=0, args=[],
                end_id=90, end_ts=90, outcome="return", value=[b"rye", b"oat"], depth=0)
    api = Call(call_id=2, pid=1, module="Elixir.Shop.Api", function="basket", arity=1, ts=10, args=[7],
               end_id=80, end_ts=80, outcome="return", value=(Atom("ok"), [b"rye", b"oat"]), depth=1, parent=trig)
    made = Call(call_id=3, pid=2, module="Elixir.Shop.Basket", function="items", arity=1, ts=20, args=[7],
                end_id=70, end_ts=70, outcome="return", value=[b"rye", b"oat"], depth=0)
    err = Call(call_id=4, pid=2, module="Elixir.Shop.Basket", function="stock", arity=1, ts=30, args=[7],
               end_id=40, end_ts=40, outcome="return", value=(Atom("error"), Atom("timeout")), depth=1)
    order = {o.mfa: o for o in score_functions(_view([trig, api, made, err], {1}), "the basket items are wrong")}
    assert any("passed on what Shop.Basket.items/1 returned" in r for r in order["Shop.Api.basket/1"].reasons)
    assert any("got back" in r for r in order["Shop.Basket.items/1"].reasons)
    assert not any("got back" in r for r in order["Shop.Basket.stock/1"].reasons)   # a failure is no value made
    assert order["Shop.Basket.items/1"].score > order["Shop.Api.basket/1"].score
