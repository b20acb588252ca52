"""Evidence signatures checked against observed fact tokens (knowledge/evidence.py).

The observed maps are hand-made here — token → ids of the facts that showed it — in the
shape the diagnosis's evidence layer produces from a recording; the signatures are the real
entries' own (knowledge/kb/*.md), so a careless edit of an entry's [evidence] table fails
the scenarios below."""

from __future__ import annotations

from pathlib import Path

import pytest

from elixir_scope.knowledge import KnowledgeBase
from elixir_scope.knowledge.evidence import SignatureCheck, check_signature
from elixir_scope.knowledge.kb import parse_entry

KB_DIR = Path(__file__).resolve().parents[1] / "knowledge" / "kb"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _entry(supports, primary, contradicts=()):
    """A minimal entry with the given signature (the body is a real entry's)."""
    text = (KB_DIR / "genserver-call-self.md").read_text()
    front, _, body = text[4:].partition("\n+++\n")
    front = front.split("\n[evidence]\n")[0]
    q = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"  # noqa: E731
    block = (f"[evidence]\nsupports = {q(supports)}\nprimary = {q(primary)}\n"
             f"contradicts = {q(contradicts)}\nrecord = [\"calls\"]\nmisleads = \"test\"")
    return parse_entry(f"+++\n{front}\n\n{block}\n+++\n{body}", "genserver-call-self.md")


CYCLE = ("call:cycle", "exception:timeout:GenServer.call", "exit:abnormal", "call:blocked_waiting")


def test_exact_matches_support_and_make_a_candidate():
    e = _entry(CYCLE, ["call:cycle"], ["call:self"])
    got = check_signature(e, {"call:cycle": ["f3"], "exception:timeout:GenServer.call": ["f1", "f2"]})
    assert got.candidate and got.entry_id == "genserver-call-self"
    assert [(m.token, m.observed, m.fact_ids, m.weight) for m in got.supported_by] == [
        ("call:cycle", "call:cycle", ("f3",), 1.0),
        ("exception:timeout:GenServer.call", "exception:timeout:GenServer.call", ("f1", "f2"), 1.0)]
    assert got.support == 0.5 and got.contradicted_by == ()
    assert got.supporting_facts == ("f3", "f1", "f2")


def test_a_more_specific_fact_satisfies_the_signature_fully():
    e = _entry(["exception:badarg", "exit:abnormal"], ["exception:badarg"])
    got = check_signature(e, {"exception:badarg:ets": ["f7"]})
    assert got.candidate
    assert got.supported_by[0].observed == "exception:badarg:ets" and got.supported_by[0].weight == 1.0


def test_a_more_general_fact_counts_half_and_is_not_primary_evidence():
    e = _entry(["exception:timeout:GenServer.call", "call:blocked_waiting"], ["exception:timeout:GenServer.call"])
    got = check_signature(e, {"exception:timeout": ["f1"]})
    assert got.supported_by[0].weight == 0.5 and got.support == 0.25
    assert not got.candidate
    assert check_signature(e, {"exception:timeout": ["f1"], "exception:timeout:GenServer.call": ["f2"]}).candidate


def test_candidate_only_when_a_primary_token_is_seen():
    e = _entry(CYCLE, ["call:cycle"])
    got = check_signature(e, {"exit:abnormal": ["f1"], "call:blocked_waiting": ["f2"],
                              "exception:timeout:GenServer.call": ["f3"]})
    assert not got.candidate and got.support == 0.75
    # any one of several primary tokens is enough
    e2 = _entry(CYCLE, ["call:cycle", "call:blocked_waiting"])
    assert check_signature(e2, {"call:blocked_waiting": ["f2"]}).candidate


def test_contradictions_are_reported_with_their_facts():
    e = _entry(CYCLE, ["call:cycle"], ["call:self", "callback:slow"])
    got = check_signature(e, {"call:cycle": ["f1"], "call:self": ["f9"], "mailbox:growing": ["f4"]})
    assert got.candidate
    assert [(m.token, m.fact_ids) for m in got.contradicted_by] == [("call:self", ("f9",))]
    assert got.contradicting_facts == ("f9",)


def test_tokens_with_no_facts_and_unrelated_tokens_do_not_count():
    e = _entry(CYCLE, ["call:cycle"])
    got = check_signature(e, {"call:cycle": [], "call:self": ["f1"], "mailbox:growing": ["f2"]})
    assert got == SignatureCheck("genserver-call-self", False, 0.0, (), ())


def test_facts_of_equally_good_matches_are_merged():
    e = _entry(["exception:timeout", "exit:abnormal"], ["exception:timeout"])
    got = check_signature(e, {"exception:timeout:GenServer.call": ["f1"], "exception:timeout:Task.await": ["f2", "f1"]})
    assert got.candidate and got.supported_by[0].fact_ids == ("f1", "f2")


def test_entries_without_a_checkable_signature_give_none(kb):
    unseen = [e for e in kb if not e.evidence.checkable]
    assert unseen
    for e in unseen:
        assert check_signature(e, {"exit:abnormal": ["f1"]}) is None


def test_every_signature_is_a_candidate_on_its_own_primary_evidence(kb):
    for e in kb:
        if not e.evidence.checkable:
            continue
        for p in e.evidence.primary:
            got = check_signature(e, {p: ["f1"]})
            assert got.candidate and got.support > 0, (e.id, p)
        if e.evidence.contradicts:
            got = check_signature(e, {t: ["c1"] for t in (*e.evidence.primary, *e.evidence.contradicts)})
            assert got.contradicting_facts == ("c1",), e.id


def test_generic_failure_evidence_alone_makes_no_pattern_a_candidate(kb):
    generic = {"exit:abnormal": ["f1"], "exception:error": ["f2"], "exit:shutdown": ["f3"],
               "exit:caused_by_other": ["f4"], "exception:timeout": ["f5"]}
    assert [e.id for e in kb if (c := check_signature(e, generic)) and c.candidate] == []


def _ranked(kb, observed):
    """The candidates, uncontradicted first, then by the share of their signature seen."""
    checks = [c for e in kb if (c := check_signature(e, observed)) and c.candidate]
    checks.sort(key=lambda c: (bool(c.contradicted_by), -c.support, c.entry_id))
    return [c.entry_id for c in checks]


# What a recording of each failure mode would show (only tokens the evidence layer emits),
# and the entries that should then rank first among the signature checks.
SCENARIOS = [
    (["call:cycle", "call:blocked_waiting", "exception:timeout:GenServer.call", "exit:abnormal"], ["genserver-call-cycle"]),
    (["call:self", "exception:calling_self", "exit:abnormal"], ["genserver-call-self"]),
    (["callback:slow", "call:blocked_waiting", "exception:timeout:GenServer.call", "mailbox:growing"], ["slow-callback-blocks-callers"]),
    (["mailbox:growing", "mailbox:large", "memory:process_heap_growing"], ["mailbox-overload"]),
    (["restart:loop", "exit:reached_max_restart_intensity", "exit:abnormal", "exception:error"], ["crash-loop-restart-intensity"]),
    (["ets:owner_exit", "exception:badarg:ets", "exit:abnormal"], ["ets-table-owner-death"]),
    (["ets:read_modify_write"], ["ets-read-modify-write-race"]),
    (["ets:table_count_growing", "memory:ets_growing"], ["ets-table-leak"]),
    (["memory:ets_growing"], ["cache-without-eviction"]),
    (["memory:binary_growing", "state:growing"], ["sub-binary-retains-parent"]),
    (["state:growing", "state:large", "memory:process_heap_growing"], ["state-growing-unbounded"]),
    (["task:crash_propagates", "link:unexpected_exit", "exit:caused_by_other", "exit:abnormal", "exception:error"], ["task-async-crash-kills-caller"]),
    (["link:unexpected_exit", "exit:linked_cascade", "exit:caused_by_other"], ["link-instead-of-monitor"]),
    (["restart:siblings", "exit:shutdown", "exit:caused_by_other"], ["one-for-all-cascade"]),
    (["exit:not_restarted", "call:noproc", "exception:noproc:GenServer.call"], ["restart-type-surprises"]),
    (["exception:noproc:GenServer.call", "call:noproc", "exit:caused_by_other"], ["noproc-call-to-dead-name"]),
    (["return:error", "return:error_ignored"], ["error-return-ignored", "with-else-swallows-errors"]),
    (["message:no_effect"], ["catch-all-handle-info-swallows"]),
    (["callback:unhandled_message", "exception:function_clause", "exit:abnormal", "restart:loop"], ["unexpected-message-function-clause"]),
    (["statem:unhandled_event", "exception:function_clause", "exit:abnormal"], ["statem-unhandled-event"]),
    (["callback:rate_high", "reductions:high"], ["timer-interval-wrong-unit"]),
    (["timer:leak", "callback:rate_high", "mailbox:growing"], ["timer-leak-send-after"]),
    (["reductions:high"], ["hot-loop-reductions"]),
    (["exception:badarith", "exit:abnormal"], ["arithmetic-on-nil-missing-key"]),
    (["state:nil_field", "exception:key_error"], ["state-nil-field"]),
    (["state:corrupted_by_earlier_message", "state:unexpected_shape", "exception:function_clause", "restart:loop"], ["state-corrupted-by-earlier-message"]),
    (["exception:throw", "exception:bad_return", "exit:abnormal"], ["throw-or-exit-escapes-callback"]),
    (["exception:bad_return", "exit:abnormal", "restart:loop"], ["bad-return-value"]),
    (["exception:case_clause", "return:error", "exit:abnormal"], ["case-clause-unhandled-return"]),
    (["exception:undef", "exit:abnormal"], ["undefined-function-at-runtime"]),
    (["exception:badarg", "exit:abnormal", "restart:loop"], ["badarg-unvalidated-input"]),
    (["vm:atom_count_growing"], ["atom-exhaustion"]),
    (["process:count_growing", "process:orphaned"], ["process-leak-unsupervised-spawn", "task-fire-and-forget-orphan"]),
    (["exception:timeout:Task.await", "callback:slow", "call:nested_in_callback"], ["task-await-inside-genserver"]),
    (["exception:timeout:Task.await", "process:orphaned"], ["task-await-timeout"]),
    (["callback:slow_init"], ["slow-init-blocks-supervisor"]),
    (["callback:slow_init", "call:cycle", "call:blocked_waiting"], ["supervisor-init-deadlock"]),
    (["pubsub:topic_mismatch", "pubsub:no_subscribers"], ["pubsub-topic-mismatch"]),
    (["pubsub:no_subscribers"], ["pubsub-no-subscribers"]),
    (["call:blocked_waiting", "call:reply_dropped", "exception:timeout:GenServer.call"], ["handle-call-never-replies"]),
    (["call:reply_dropped", "exception:timeout:GenServer.call"], ["handle-call-never-replies"]),
    (["callback:timeout_cancelled", "message:no_effect"], ["genserver-timeout-cancelled"]),
    (["data:sum_mismatch"], ["integer-split-remainder-lost"]),
    (["data:invalid_utf8"], ["text-cut-by-bytes"]),
    (["data:parse_lossy"], ["number-parse-stops-at-separator"]),
    (["data:term_order_compare"], ["date-compared-by-term-order"]),
    (["state:error_cached"], ["error-result-cached"]),
    (["call:stampede"], ["cache-stampede"]),
    (["monitor:normal_down_retried"], ["normal-down-treated-as-failure"]),
    (["registry:registered_wrong_process", "message:no_effect"], ["registered-from-start-link"]),
    (["message:send_dead", "exit:not_restarted"], ["cast-to-missing-process-lost"]),
]


# Single facts with the tokens the evidence layer (agents/evidence) puts on one fact together:
# a signature must not be contradicted by the very fact that is its best evidence.
SCENARIOS += [
    (["callback:slow", "exception:timeout:GenServer.call"], ["slow-callback-blocks-callers"]),
    (["call:cycle", "call:nested_in_callback", "exception:timeout:GenServer.call"], ["genserver-call-cycle"]),
    (["mailbox:growing", "message:rate_high", "callback:slow"], ["mailbox-overload"]),
    (["callback:rate_high", "reductions:high", "timer:leak"], ["hot-loop-reductions", "timer-interval-wrong-unit", "timer-leak-send-after"]),
    (["message:no_effect", "callback:unhandled_message"], ["catch-all-handle-info-swallows"]),
    (["statem:unhandled_event", "message:no_effect"], ["statem-unhandled-event"]),
    (["state:growing", "memory:process_heap_growing"], ["state-growing-unbounded", "cache-without-eviction"]),
    (["ets:owner_exit", "exception:badarg:ets"], ["ets-table-owner-death"]),
    (["exception:error", "exception:badarg", "exception:badarg:ets"], ["ets-access-rights"]),
    (["restart:siblings", "exit:shutdown"], ["one-for-all-cascade"]),
    (["exit:not_restarted", "exit:shutdown"], ["restart-type-surprises"]),
    (["message:send_dead"], ["cast-to-missing-process-lost"]),
    (["message:send_dead", "call:noproc"], ["registry-stale-lookup"]),
    (["exception:error", "exception:function_clause", "callback:unhandled_message"], ["unexpected-message-function-clause"]),
    (["exit:abnormal", "exit:caused_by_other", "link:unexpected_exit", "exit:linked_cascade", "task:crash_propagates"],
     ["task-async-crash-kills-caller"]),    (["exit:terminate_skipped", "exit:shutdown"], ["shutdown-timeout-brutal-kill"]),
    (["message:variant_unhandled", "message:no_effect", "callback:unhandled_message"], ["catch-all-handle-info-swallows"]),
    (["state:counter_not_reset"], ["retry-counter-never-reset"]),
    (["state:demand_lost"], ["demand-lost-partial-dispatch"]),
]


@pytest.mark.parametrize(("observed", "expected"), SCENARIOS, ids=[s[1][0] for s in SCENARIOS])
def test_the_right_pattern_ranks_first_on_its_evidence(kb, observed, expected):
    ranked = _ranked(kb, {t: [f"f{i}"] for i, t in enumerate(observed)})
    assert ranked and ranked[0] in expected, ranked[:4]


def test_a_pattern_seen_only_by_the_error_it_shares_does_not_fit():
    """The same rule for every entry: seen primary tokens all shared by more patterns than a
    primary token of the entry that was not seen → the signature does not fit."""
    from elixir_scope.knowledge.evidence import signature_misfit, token_spread
    from elixir_scope.knowledge.kb import KnowledgeBase

    kb = KnowledgeBase.load()
    spread = token_spread(kb)
    clause = kb.get("unexpected-message-function-clause")
    only_error = check_signature(clause, {"exception:function_clause": ["f1"], "exit:abnormal": ["f2"]})
    why = signature_misfit(clause, only_error, spread)
    assert why is not None and "callback:unhandled_message" in why and "exception:function_clause" in why
    both = check_signature(clause, {"exception:function_clause": ["f1"], "callback:unhandled_message": ["f1"]})
    assert signature_misfit(clause, both, spread) is None
    # an entry with one primary token fits whenever it is a candidate
    badarg = kb.get("badarg-unvalidated-input")
    assert len(badarg.evidence.primary) == 1
    assert signature_misfit(badarg, check_signature(badarg, {"exception:badarg": ["f1"]}), spread) is None
    # the distinguishing token alone fits: it is what the pattern is about
    trap = kb.get("trap-exit-misuse")
    assert signature_misfit(trap, check_signature(trap, {"trap_exit:exit_message": ["f1"]}), spread) is None
    assert signature_misfit(trap, check_signature(trap, {"callback:unhandled_message": ["f1"]}), spread) is not None
    # a missing token of a family that was seen is a degree of the same evidence, not another kind
    overload = kb.get("mailbox-overload")
    assert {"mailbox:growing", "mailbox:large"} <= set(overload.evidence.primary)
    assert signature_misfit(overload, check_signature(overload, {"mailbox:growing": ["f1"]}), spread) is None
    # the spread counts entries, a token above or below in the hierarchy included
    assert spread["exception:function_clause"] > spread["callback:unhandled_message"] > spread["trap_exit:exit_message"] >= 1
