"""The model may decide: check its verdict against the recordings and apply it, or say why not.

With a model (``ANTHROPIC_API_KEY``, or the MCP client's own model through sampling), the
narrator receives the facts and the ranked hypotheses, gathers evidence with its tools, and
may end its answer with a decision::

    {"explanation": "...", "cited_events": [812, 815],
     "verdict": "root_cause_found", "culprit": {"module": "Shop.Cart", "function": "add/2", "detail": "..."},
     "fix": "...", "another_round": {"why": "...", "focus": ["Shop.Pricing"]}}

Every cited event id is looked up in the diagnosis's recordings (every round's). A decision
that changes the culprit is applied only when it cites events that exist and none that do
not; otherwise it is kept in the report as an **uncited claim** and the offline verdict stands.
A plain-text answer is a narrative only. The offline verdict is always computed first, so
nothing depends on the model being reachable or right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .findings import Culprit, Evidence, Finding, Report

_CITE = re.compile(r"\[#(\d+)\]")


@dataclass
class Decision:
    explanation: str | None = None
    cited: list[int] = field(default_factory=list)
    verdict: str | None = None
    culprit: Culprit | None = None
    fix: str | None = None
    another_round: dict | None = None


def read_decision(answer: dict[str, Any] | None, text: str | None) -> Decision | None:
    """The decision in a model's final answer (a JSON object), or None for plain text."""
    if not isinstance(answer, dict):
        return None
    d = Decision()
    if isinstance(answer.get("explanation"), str):
        d.explanation = answer["explanation"].strip() or None
    cited = answer.get("cited_events", [])
    if isinstance(cited, list):
        d.cited = [int(x) for x in cited if isinstance(x, int) or (isinstance(x, str) and x.isdigit())][:50]
    if d.explanation:
        d.cited += [int(x) for x in _CITE.findall(d.explanation) if int(x) not in d.cited][:50]
    if answer.get("verdict") in ("root_cause_found", "inconclusive", "problems_found"):
        d.verdict = answer["verdict"]
    c = answer.get("culprit")
    if isinstance(c, dict) and isinstance(c.get("module"), str) and c["module"].strip():
        d.culprit = Culprit(module=c["module"].strip().removeprefix("Elixir.")[:200],
                            function=str(c["function"])[:120] if c.get("function") else None,
                            detail=str(c["detail"])[:300] if c.get("detail") is not None else None)
    if isinstance(answer.get("fix"), str):
        d.fix = answer["fix"][:4000]
    ar = answer.get("another_round")
    if isinstance(ar, dict) or ar is True:
        ar = ar if isinstance(ar, dict) else {}
        focus = [str(m)[:200] for m in ar.get("focus", []) if isinstance(m, str)][:10]
        d.another_round = {"why": str(ar.get("why", ""))[:500], "focus": focus}
    return d


def check_cited(store, recording_ids: list[int], ids: list[int]) -> tuple[list[Evidence], list[int]]:
    """(evidence rows for the ids found in the recordings, the ids found nowhere)."""
    from elixir_scope.store import RecordingNotFound

    found, missing = [], []
    for eid in ids:
        for rid in recording_ids:
            try:
                ev = store.recording(rid).event(eid)
            except RecordingNotFound:
                continue
            found.append(Evidence(event_id=ev.id, kind=ev.kind.name.lower(), ts=ev.ts,
                                  pid=None, mfa=str(ev.mfa) if getattr(ev, "mfa", None) else None,
                                  summary=f"cited by the model ({ev.kind.name.lower()} in recording {rid})"))
            break
        else:
            missing.append(eid)
    return found, missing


def _same(a: Culprit | None, b: Culprit | None) -> bool:
    return a is not None and b is not None and (a.module, a.function or "") == (b.module, b.function or "")


def apply_decision(report: Report, decision: Decision, store, recording_ids: list[int]) -> None:
    """Apply a checked decision to ``report`` in place (or record why it was not applied)."""
    found, missing = check_cited(store, recording_ids, decision.cited)
    notes = report.model_claims
    if missing:
        notes.append("the model cited events that are in none of the recordings: "
                     + ", ".join(f"#{i}" for i in missing[:10]) + " (uncited claims)")
    current = report.root_cause.culprit if report.root_cause else None
    if decision.culprit is None or _same(decision.culprit, current):
        if decision.culprit is not None:
            notes.append("the model agrees with the offline verdict"
                         + (f", citing {len(found)} event(s)" if found else ""))
        return
    who = decision.culprit.where
    if not found or missing:
        notes.append(f"the model named {who} as the culprit without evidence in the recordings "
                     "(an uncited claim); the offline verdict stands")
        return
    base = report.root_cause.model_copy(deep=True) if report.root_cause else Finding(
        detector="model", title="", summary="", confidence=0.7, culprit=decision.culprit)
    base.detector = "model"
    base.id = "model#1"
    base.culprit = decision.culprit
    base.title = f"{who} (the model's verdict)"
    base.summary = decision.explanation or base.summary
    base.evidence = found
    base.causal_chain = found
    base.caused_by = None
    if report.root_cause is not None:
        report.findings.insert(0, report.root_cause)
    report.root_cause = base
    report.suspect = None   # a verdict now names the culprit: no low-confidence pointer beside it
    report.verdict = "root_cause_found" if decision.verdict in (None, "root_cause_found") else decision.verdict
    report.decided_by = "model"
    if decision.fix:
        report.fix = decision.fix
        report.fix_example = None
        report.fix_location = None
    notes.append(f"the model overturned the offline verdict ({current.module if current else 'none'}"
                 f"{'.' + current.function if current and current.function else ''} → {who}), citing "
                 + ", ".join(f"#{e.event_id}" for e in found[:8]))
