"""Ranked hypotheses: which explanation the symptom, the sources and the facts agree on.

Every knowledge-base pattern with an evidence signature is a candidate when its primary
evidence was seen (``knowledge.evidence.check_signature``); every first cause among the facts
that no pattern explains is a candidate of its own. A candidate's score adds

- how well the symptom, in the user's words, matches the pattern (retrieval over the knowledge
  base: dense + BM25, normalised to the best match);
- how strong its best supporting fact is: the fact's own confidence, weighed by what the symptom
  claims ("no errors in the logs" speaks against crashes, "never arrives" for silent losses,
  "after a while" for growth, "times out" for blocked calls), by whether the fact lies on a chain
  that ends in what the user sees, and by the source analysis;
- minus its strongest contradicting fact.

A pattern applies by its signature, not by its error's name: when the primary evidence seen is
only what it shares with other patterns (``exception:function_clause``, in every pattern that
ends in that error) and the primary token that tells it apart (``callback:unhandled_message``:
the clause missing in the callback itself) was not seen, it is labelled (``Hypothesis.misfit``),
ranks after every hypothesis that fits, and explains none of its facts — they stand as
hypotheses of their own (``knowledge.evidence.signature_misfit``, the same rule for every entry).

The culprit is not the supporting fact's own: it is the culprit of that fact's *origin*, found by
following ``caused_by`` back through the chain of failures (the victim's crash is the symptom,
the first cause is the culprit). Everything is sorted with explicit tie-breaks, so the same
recording always gives the same ranking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .evidence import FactBook
from .findings import Finding, Hypothesis

# What a symptom claims, and the fact tokens that claim speaks for (×BOOST) or against (×DAMP).
CLAIMS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "quiet": (r"\bno (?:errors?|crash\w*|exceptions?|warnings?|stack ?traces?)\b|nothing (?:in|shows up in) the logs?"
              r"|\bsilent(?:ly)?\b|without (?:an? )?(?:error|crash|trace)|logs? (?:are|is|look|looks) (?:clean|fine|empty)"
              r"|never (?:crash|fail|raise)\w*|\bnothing (?:has )?(?:errored|errors|failed|fails|crashed|crashes)\b",
              ("return:", "message:no_effect", "pubsub:", "ets:read_modify_write", "exit:not_restarted",
               "message:send_dead", "state:", "callback:rate_high", "mailbox:", "process:count", "memory:", "data:",
               "statem:postponed_never_retried", "dist:send_to_gone_node"),
              ("exception:error", "exception:throw", "exception:exit", "exit:abnormal", "restart:loop")),
    "never": (r"\bnever\b|\bnot (?:received|delivered|arriv\w*|show\w*|updated|saved|sent|processed|applied)\b"
              r"|\bmissing\b|\blost\b|\bdisappear\w*|\bvanish\w*|\bdropp\w*|\bignored?\b|doesn'?t (?:arrive|show|happen|update)",
              ("return:", "message:no_effect", "message:unmatched", "pubsub:", "message:send_dead", "exit:not_restarted",
               "ets:read_modify_write", "callback:unhandled_message", "call:noproc", "state:value_overwritten",
               "statem:postponed_never_retried", "dist:send_to_gone_node", "exit:terminate_skipped"), ()),
    "slow": (r"\bslow\w*|\btim(?:es|ed|ing)? ?out\b|\btimeouts?\b|\bhang\w*|\bstuck\b|\bfreez\w*|\blatenc\w*|\bblock\w*|\bunresponsive\b",
             ("callback:slow", "call:", "exception:timeout", "mailbox:", "exit:caused_by_other"), ()),
    "gradual": (r"after a while|over time|\bgradual\w*|\bcreep\w*|\bgrow\w*|\bleak\w*|\bmemory\b|\beventually\b"
                r"|\bhours?\b|\bdays?\b|\bincreas\w*|\bkeeps? (?:going )?up\b|\bpiles? up|\bbuild(?:s|ing)? up",
                ("mailbox:growing", "state:growing", "memory:", "process:count_growing", "ets:table_count_growing",
                 "vm:atom_count_growing", "timer:leak", "message:unmatched"), ()),
    "crash": (r"\bcrash\w*|\brestart\w*|\bdies\b|\bdied\b|\bkilled\b|\bexit\w*|\bgoes down|\bwent down|\b500\b"
              r"|\berrors?\b|\bexceptions?\b|\braise\w*|\bfail\w*",
              ("exception:", "exit:", "restart:", "task:crash_propagates", "link:unexpected_exit"), ()),
    "cascade": (r"\ball\b[^.;]*\bat (?:the same|once)|\bat the same (?:moment|time)|\bsimultaneous\w*|\ball together\b"
                r"|\ball of (?:them|the \w+) (?:go|went|die|died|restart|reset|crash)\w*|\beverything (?:restarts|resets|goes)",
                ("restart:siblings", "exit:linked_cascade", "link:unexpected_exit", "exit:caused_by_other"), ()),
    "rate": (r"\b(?:once|twice|\d+ times?) (?:a|an|per|every) (?:second|minute|hour|day)\b"
             r"|\bevery \d+ ?(?:ms|milliseconds?|s|sec|seconds?|min|minutes?|hours?)\b|\b(?:more|many more|too many) "
             r"(?:requests|calls|check-?ins|syncs|messages|jobs) than\b|\brate[- ]limit\w*",
             ("callback:rate_high", "timer:leak", "reductions:high"), ()),
    # what survives restarting the application but not the node lives in the node itself: atoms,
    # persistent terms, loaded code, ports, tables owned elsewhere
    "node_wide": (r"restart(?:ing)? the (?:whole |entire )?(?:node|vm|beam)|only a (?:node|vm|full) restart"
                  r"|even after (?:we )?restart\w*|survives? (?:a |the )?restart|restarting (?:the|our) \w+ (?:service|app\w*) (?:does ?n[o']t|did ?n[o']t)",
                  ("vm:", "exception:system_limit", "ets:table_count_growing", "memory:ets_growing"),
                  # …and restarting the application would have cleared what lives in its processes
                  ("state:growing", "memory:process_heap_growing", "mailbox:growing")),
    # the user points at another node: the facts about distribution count more
    "remote": (r"\b(?:other|another|remote|second|both|two|each) nodes?\b|\bnodes? (?:went|goes|is|was) (?:down|away)"
               r"|\bcluster\w*|\bnode (?:was |is |got )?restart\w*|\bnetsplit\b|\bdistribut\w*|\bacross nodes\b",
               ("dist:", "call:cycle:across_nodes", "exception:noconnection", "exit:noconnection"), ()),
    "busy": (r"\bcpu\b|\bbusy\b|\bspin\w*|\bhot\b|\bload\b|\bschedulers?\b|\breductions\b",
             ("callback:rate_high", "reductions:high", "timer:leak", "mailbox:growing"), ()),
    # the machine itself is busy (not "the shop was busy": many customers): what the user watched over
    # time that a short capture cannot show — it lifts a steady loop (Finding.lifted_by), weighs nothing
    "cpu": (r"\bcpu\b|\bspin\w*|\bschedulers?\b|\breductions\b|\bpegged\b|\b100 ?%|\bload average\b"
            r"|\bbusy (?:doing nothing|loop\w*|wait\w*)|\b(?:core|machine|server|node|vm|beam)s? (?:is |are |was |were )?(?:\w+ )?busy\b",
            (), ()),
    "wrong": (r"\b(?:is|are|was|were|look|looks|comes? out|ends? up) (?:wrong|off|incorrect)\b|\bwrong (?:total|count|value|number|amount|result|data|balance|price|state)s?\b|\bincorrect\b|\bstale\b|\binconsistent\b|\bcounts? (?:are|is) (?:off|low|lower)|\blower than\b"
              r"|\bdoubled?\b|\bduplicat\w*|\bmismatch\w*|\bshould (?:be|have been) (?:far |much |a lot )?(?:higher|lower|more|less|bigger|smaller)\b",
              ("ets:read_modify_write", "state:", "return:", "message:no_effect", "pubsub:", "data:"), ()),
    # work that stopped half-way: something waits for a message, a reply or a step that never comes
    "stalled": (r"\bstill (?:\w+ing|shows?|showing|pending|waiting|open|signed in|logged in|busy)\b|\bwaiting (?:behind|for|on)\b"
                r"|\b(?:has|have|had) stopped\b|\bstays? (?:stuck|busy|pending|lit|on|open)\b|\bnever (?:finish|complete|move|return)\w*",
                ("message:no_effect", "callback:unhandled_message", "call:blocked_waiting", "call:reply_dropped",
                 "callback:timeout_cancelled", "statem:", "exit:not_restarted", "message:send_dead", "state:demand_lost"), ()),
    # more requests than the work needs: a limit, a quota or a backend hit by a burst
    "burst": (r"\bquota\b|\brate[- ]limit\w*|\btoo many (?:requests|calls|queries|connections)\b|\bthundering\b|\bstampede\b"
              r"|\b(?:right |just )?after (?:a |the |every )?(?:deploy\w*|restart\w*|cache (?:flush|clear)\w*)|\b(?:request|traffic) spike",
              ("call:stampede", "process:count_growing", "mailbox:growing"), ()),
    # each time worse than the last: a delay, a wait or a penalty that escalates and never comes back down
    "escalating": (r"\b(?:longer|slower|worse) than (?:the )?(?:one |time )?before\b|\b(?:longer|slower|worse) (?:each|every) time\b"
                   r"|\beach (?:one |time |\w+ )?(?:is |was |gets |got )?(?:longer|slower)\b|\bdoubl(?:es|ing|ed)\b"
                   r"|\bkeeps? getting (?:longer|slower|worse)|\bbackoff\b|\bever longer\b",
                   ("state:counter_not_reset", "state:growing", "mailbox:growing"), ()),
    # amounts that should balance and do not: a quantity split or converted loses units
    "unbalanced": (r"(?:do|does|did)(?: not|n'?t) add up|\breconcil\w*|\b(?:cents?|units?|items?) (?:short|off|missing|too (?:few|many))"
                   r"|\b(?:short|off) by (?:a few|one|\d+)|\brounding\b|\bremainders?\b|\bless than (?:we|it|they) (?:invoice|bill|charge|expect)\w*",
                   ("data:sum_mismatch", "data:", "ets:read_modify_write", "state:value_overwritten"), ()),
    # the user states what came out (a number, a version, quoted text): the facts that follow those
    # very values to where they were made speak for the wrong value itself
    "values": (r"\d|['\"‘“«][^'\"’”»]{3,}['\"’”»]",
               ("data:value_origin", "data:value_lost", "data:served_for_other_request", "data:repeated_value",
                "data:order_inverted", "data:zero_answered"), ()),
}
BOOST, DAMP = 1.35, 0.55

W_SYMPTOM, W_EVIDENCE, W_CONTRA = 0.4, 0.6, 0.3
MIN_VERDICT = 0.6   # a winner's best fact must reach this relevance for "root cause found"
WEAK = 0.8          # score factor for a hypothesis whose best fact is below that
NOT_A_CAUSE = ("trigger_failed",)   # the reproduction's own failure (agents/evidence/trigger.py): reported, never ranked
WEAK_FACT = 0.5     # the most a fact marked weak (Finding.weak) counts, unless the symptom lifts it


def claims(symptom: str) -> list[str]:
    text = symptom.lower()
    return [name for name, (rx, _b, _d) in CLAIMS.items() if re.search(rx, text)]


def _has(tokens: list[str], prefixes: tuple[str, ...]) -> bool:
    return any(t == p or t.startswith(p) for t in tokens for p in prefixes)


@dataclass
class Ranking:
    hypotheses: list[Hypothesis]
    relevance: dict[str, float]          # fact id → relevance
    winner_fact: Finding | None = None   # the winner's best supporting fact
    origin: Finding | None = None        # …and its first cause
    chain: list[Finding] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9_]{2,}", text.lower())}


def _snake(name: str) -> set[str]:
    parts = set()
    for seg in name.split("."):
        s = re.sub(r"(?<!^)(?=[A-Z])", "_", seg).lower()
        parts.add(s)
        parts.update(s.split("_"))
    return {p for p in parts if len(p) > 2}


def relevance(book: FactBook, symptom: str, *, source_modules: set[str] = frozenset()) -> dict[str, float]:
    """fact id → how much the fact matters for this symptom (its confidence, weighed by the
    symptom's claims, by being on a chain, and by the sources/symptom naming its module)."""
    cl = claims(symptom)
    words = _words(symptom)
    has_effects = {f.caused_by for f in book.facts if f.caused_by}
    out = {}
    for f in book.facts:
        r = f.confidence
        for name in cl:
            _rx, boost, damp = CLAIMS[name]
            if _has(f.signatures, boost):
                r *= BOOST
            if damp and _has(f.signatures, damp) and not _has(f.signatures, boost):
                r *= DAMP
        if f.id in has_effects:
            r *= 1.1   # something else failed because of it
        mods = {f.culprit.module} | ({f.culprit.process} if f.culprit.process else set())
        if any(_snake(m) & words for m in mods if m):
            r *= 1.1
        if f.culprit.module in source_modules:
            r *= 1.05
        if f.weak and not set(f.lifted_by) & set(cl):
            r = min(r, WEAK_FACT)   # vague on its own: a hypothesis, never the verdict
        out[f.id] = round(min(r, 1.5), 4)
    return out


def rank(book: FactBook, symptom: str, *, kb=None, symptom_scores: dict[str, float] | None = None,
         source_modules: set[str] = frozenset(), limit: int = 8) -> Ranking:
    """Rank the explanations of ``symptom`` given the recording's facts.

    ``kb`` is a ``knowledge.kb.KnowledgeBase`` (None: facts alone); ``symptom_scores`` maps entry
    ids to the symptom's retrieval score in [0, 1]."""
    from elixir_scope.knowledge.evidence import check_signature, signature_misfit, token_spread

    rel = relevance(book, symptom, source_modules=source_modules)
    by_id = {f.id: f for f in book.facts}
    observed = book.observed()
    hyps: list[tuple[float, str, Hypothesis, Finding | None]] = []
    explained: set[str] = set()
    scores = symptom_scores or {}
    spread = token_spread(kb) if kb is not None and observed else {}
    if kb is not None and observed:
        for entry in kb:
            chk = check_signature(entry, observed)
            if chk is None or not chk.candidate:
                continue
            sup = [by_id[i] for i in chk.supporting_facts if i in by_id]
            con = [by_id[i] for i in chk.contradicting_facts if i in by_id]
            primary = {t for m in chk.supported_by if m.token in entry.evidence.primary for t in m.observed_tokens}
            prim_facts = [f for f in sup if set(f.signatures) & primary] or sup
            best = max(prim_facts, key=lambda f: (rel[f.id], -book.facts.index(f)))
            ev = rel[best.id] + 0.15 * chk.support
            contra = max((rel[f.id] for f in con), default=0.0)
            sym = scores.get(entry.id, 0.0)
            score = W_SYMPTOM * sym + W_EVIDENCE * ev - W_CONTRA * contra
            if rel[best.id] < MIN_VERDICT:
                score *= WEAK  # a pattern the words match but the recording barely shows ranks behind proven ones
            origin = book.origin(best)
            if origin.detector in NOT_A_CAUSE:
                continue   # the pattern's best evidence follows from the reproduction's own failure
            misfit = signature_misfit(entry, chk, spread)
            if misfit is None:
                explained.update(f.id for f in sup)
            why = ([misfit] if misfit else []) + [f"symptom match {sym:.2f}", f"best evidence {best.id} ({best.title}) relevance {rel[best.id]:.2f}",
                   f"signature seen {chk.support:.0%}"]
            if con:
                why.append("contradicted by " + ", ".join(f.id for f in con[:3]))
            if origin.id != best.id:
                why.append(f"{best.id} was caused by {origin.id}: the culprit is the first cause")
            if entry.evidence.misleads:
                why.append("known to mislead: " + entry.evidence.misleads)
            hyps.append((score, entry.id, Hypothesis(
                id=entry.id, title=entry.title, score=round(score, 4), symptom_score=round(sym, 4),
                evidence_score=round(rel[best.id], 4), supporting_facts=[f.id for f in sup],
                contradicting_facts=[f.id for f in con],
                supporting_events=sorted({e for f in sup for e in f.event_ids})[:30],
                contradicting_events=sorted({e for f in con for e in f.event_ids})[:30],
                culprit=origin.culprit, origin_fact=origin.id, record=list(entry.evidence.record), why=why,
                misfit=misfit), best))
    for f in book.facts:
        if f.caused_by is not None or f.id in explained or f.detector in NOT_A_CAUSE:
            continue
        score = W_EVIDENCE * rel[f.id] + W_SYMPTOM * 0.25
        if rel[f.id] < MIN_VERDICT:
            score *= WEAK
        hyps.append((score, f.id, Hypothesis(
            id=f"fact:{f.id}", title=f.title, score=round(score, 4), symptom_score=0.25, evidence_score=rel[f.id],
            supporting_facts=[f.id], supporting_events=f.event_ids[:30], culprit=f.culprit, origin_fact=f.id,
            why=[f"a first cause no knowledge-base pattern explains; relevance {rel[f.id]:.2f}"]), f))
    hyps.sort(key=lambda h: (h[2].misfit is not None, -h[0], h[1]))
    # a first cause already explained by a knowledge pattern above is not listed again on its own
    ranked, seen_origin = [], {}
    for _score, _id, h, best in hyps:
        if h.origin_fact in seen_origin and h.id.startswith("fact:"):
            continue
        seen_origin.setdefault(h.origin_fact, h.id)
        ranked.append((h, best))
        if len(ranked) >= limit:
            break
    out = Ranking([h for h, _ in ranked], rel, claims=claims(symptom))
    if ranked:
        h, best = ranked[0]
        out.winner_fact = best
        out.origin = book.get(h.origin_fact)
        out.chain = book.chain(best) if best is not None else []
    return out
