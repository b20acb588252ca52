"""The templated explanation: with no API key, the detectors' findings, the knowledge base
and the source analysis give a complete report on their own — root cause, evidence, causal
chain, and a suggested fix with its code location.
"""

from __future__ import annotations

from .findings import Finding, KnowledgeRef, Location, Narrative, Report, RoundRecord
from .state import DiagnosisState


def _location(state: DiagnosisState, f: Finding) -> Location | None:
    modules = state.source_summary.get("modules", {}) if state.source_summary else {}
    mod = modules.get(f.culprit.module)
    if not mod:
        return None
    line = mod["line"]
    if f.culprit.function and f.culprit.function in mod.get("functions", {}):
        line = mod["functions"][f.culprit.function]
    return Location(file=mod["file"], line=line, function=f.culprit.function)


def narrative(report: Report) -> str:
    rc = report.root_cause
    if rc is None and report.not_recorded and report.recording_id is None:
        return (f"Nothing was recorded for “{report.symptom}”, so there is no evidence to judge: "
                f"{report.not_recorded}.")
    if rc is None:
        lines = [f"The evidence could not single out a root cause for “{report.symptom}” in this recording."]
        if report.not_recorded:
            lines.append(f"The last round could not record: {report.not_recorded}.")
        if report.suspect is not None:
            c = report.suspect.culprit
            lines.append(f"Where to look first (confidence {report.suspect.confidence:.0%}, below the bar for a root "
                         f"cause): {c.shown} — {report.suspect.title}.")
        if report.findings:
            lines.append("It did show: " + "; ".join(f.title for f in report.findings[:3]) + ".")
        if report.knowledge:
            lines.append("Patterns that match the symptom: " + ", ".join(k.title for k in report.knowledge[:3]) + ".")
        if len(report.rounds) > 1:
            lines.append(f"{len(report.rounds)} capture rounds were tried: " + report.rounds[-1].next + ".")
        elif report.rounds and not report.rounds[-1].decided:
            lines.append(report.rounds[-1].next[:1].upper() + report.rounds[-1].next[1:] + ".")
        lines.append("Record while the problem happens (a trigger that reproduces it), or for longer, and diagnose again.")
        return " ".join(lines)
    parts = [rc.summary]
    if rc.causal_chain:
        steps = "; then ".join(
            (f"[#{e.event_id}] " if e.event_id is not None else "") + e.summary for e in rc.causal_chain[:5])
        parts.append(f"In order: {steps}.")
    win = report.hypotheses[0].id if report.hypotheses else None
    k = report.knowledge[0] if report.knowledge and report.knowledge[0].id == win else None
    if k is not None:
        parts.append(f"This is the pattern “{k.title}” from the knowledge base.")
    c = rc.culprit
    where = c.shown
    loc = f" ({report.fix_location.file}:{report.fix_location.line})" if report.fix_location else ""
    parts.append(f"Fix it in {where}{loc}: {rc.fix_hint or (k.fix if k else '')}".rstrip(": "))
    if report.gaps:
        parts.append("Note: the recording has gaps (" + "; ".join(report.gaps) + "), so some events may be missing.")
    return "\n\n".join(parts)


def _root(state: DiagnosisState) -> Finding | None:
    """The winner's first cause as the report's root cause, its causal chain running from that
    first cause to what the user saw."""
    if not state.hypotheses:
        return None
    winner = state.hypotheses[0]
    facts = {f.id: f for f in state.findings}
    origin = facts.get(winner.origin_fact or "")
    if origin is None:
        return None
    chain = [facts[i] for i in state.chain if i in facts] or [origin]
    root = origin.model_copy(deep=True)
    if winner.culprit is not None:
        root.culprit = winner.culprit.model_copy()
    steps = []
    for f in chain:
        steps.extend(f.causal_chain or f.evidence[:3])
    seen, ordered = set(), []
    for e in steps:
        key = (e.event_id, e.summary)
        if key not in seen:
            seen.add(key)
            ordered.append(e)
    root.causal_chain = ordered[:12]
    if len(chain) > 1:
        later = "; then ".join(f.title for f in chain[1:])
        root.summary = f"{origin.summary} This is the first cause of what followed: {later}."
        root.evidence = root.evidence + [e for f in chain[1:] for e in f.evidence[:2]]
        for f in chain[1:]:
            root.state_diffs = root.state_diffs + [d for d in f.state_diffs if d not in root.state_diffs]
            root.messages = root.messages + f.messages[:3]
    if not winner.id.startswith("fact:"):
        root.signatures = list(dict.fromkeys(root.signatures + [t for f in chain for t in f.signatures]))
    return root


def why_winner(state: DiagnosisState) -> str | None:
    hs = state.hypotheses
    if not hs:
        return None
    w = hs[0]
    text = f"“{w.title}” ranks first (score {w.score:.2f}): " + "; ".join(x.rstrip(".") for x in w.why[:4]) + "."
    if len(hs) > 1:
        r = hs[1]
        text += (f" The runner-up “{r.title}” scores {r.score:.2f}"
                 + (f" (contradicted by {', '.join(r.contradicting_facts[:2])})" if r.contradicting_facts else "")
                 + (" — its signature does not fit" if r.misfit else "")
                 + ".")
    if state.claims:
        text += " The symptom's own words weighed in: " + ", ".join(state.claims) + "."
    return text


def build_report(state: DiagnosisState, knowledge: list[KnowledgeRef]) -> Report:
    from .hypotheses import MIN_VERDICT

    findings = list(state.findings)
    root = _root(state)
    best = state.hypotheses[0].evidence_score if state.hypotheses else 0.0
    suspect = None
    if root is not None and best < MIN_VERDICT:
        # too weak for a verdict, still where a developer should look first: named, and labelled so
        suspect, root = root, None
        suspect.confidence = round(min(suspect.confidence, best), 2)
    verdict = "root_cause_found" if root else ("problems_found" if findings else "inconclusive")
    if root is None and suspect is None and not state.hypotheses and state.lead is not None:
        # nothing explains the symptom: the recording's strongest lead is where to look first
        suspect = state.lead.model_copy(deep=True)
    # the fix of the winning pattern; a winner no knowledge entry explains has only its own fix hint
    winner = state.hypotheses[0] if state.hypotheses else None
    top = knowledge[0] if (knowledge and winner is not None and knowledge[0].id == winner.id) else None
    report = Report(
        symptom=state.symptom,
        node=state.node,
        nodes=list(state.recorded_nodes),
        recording_id=state.recording_id,
        verdict=verdict,
        root_cause=root,
        suspect=suspect,
        findings=findings[:10],
        hypotheses=list(state.hypotheses),
        why_winner=why_winner(state),
        rounds=[RoundRecord(**r) for r in state.rounds],
        knowledge=knowledge,
        plan=state.plan,
        capture=state.capture,
        gaps=list(state.gaps) + list(state.errors),
        observations=list(state.observations) if root is None else [],
        not_recorded=state.not_recorded or None,
        fix=top.fix if (root and top) else None,
        fix_example=top.code_example if (root and top) else None,
        fix_location=_location(state, root) if root else None,
    )
    if root is not None and report.fix_location is not None:
        root.culprit.location = report.fix_location
    if suspect is not None:
        suspect.culprit.location = _location(state, suspect)
    report.narrative = Narrative(source="template", text=narrative(report))
    return report
