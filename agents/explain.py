"""The templated explanation: with no API key, the detectors' findings, the knowledge base
and the source analysis give a complete report on their own — root cause, evidence, causal
chain, and a suggested fix with its code location.
"""

from __future__ import annotations

from .findings import Finding, KnowledgeRef, Location, Narrative, Report
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
    if rc is None:
        lines = [f"No detector could prove a root cause for “{report.symptom}” in this recording."]
        if report.findings:
            lines.append("It did show: " + "; ".join(f.title for f in report.findings[:3]) + ".")
        if report.knowledge:
            lines.append("Patterns that match the symptom: " + ", ".join(k.title for k in report.knowledge[:3]) + ".")
        lines.append("Record while the problem happens (give a trigger), or for longer, and diagnose again.")
        return " ".join(lines)
    parts = [rc.summary]
    if rc.causal_chain:
        steps = "; then ".join(
            (f"[#{e.event_id}] " if e.event_id is not None else "") + e.summary for e in rc.causal_chain[:5])
        parts.append(f"In order: {steps}.")
    k = report.knowledge[0] if report.knowledge else None
    if k is not None:
        parts.append(f"This is the pattern “{k.title}” from the knowledge base.")
    c = rc.culprit
    where = f"{c.module}.{c.function}" if c.function else c.module
    loc = f" ({report.fix_location.file}:{report.fix_location.line})" if report.fix_location else ""
    parts.append(f"Fix it in {where}{loc}: {rc.fix_hint or (k.fix if k else '')}".rstrip(": "))
    if report.gaps:
        parts.append("Note: the recording has gaps (" + "; ".join(report.gaps) + "), so some events may be missing.")
    return "\n\n".join(parts)


def build_report(state: DiagnosisState, knowledge: list[KnowledgeRef]) -> Report:
    findings = list(state.findings)
    root = findings[0] if findings and findings[0].confidence >= 0.6 else None
    verdict = "root_cause_found" if root else ("problems_found" if findings else "inconclusive")
    top = knowledge[0] if knowledge else None
    report = Report(
        symptom=state.symptom,
        node=state.node,
        recording_id=state.recording_id,
        verdict=verdict,
        root_cause=root,
        findings=findings,
        knowledge=knowledge,
        plan=state.plan,
        capture=state.capture,
        gaps=list(state.gaps) + list(state.errors),
        fix=top.fix if (root and top) else None,
        fix_example=top.code_example if (root and top) else None,
        fix_location=_location(state, root) if root else None,
    )
    if root is not None and report.fix_location is not None:
        root.culprit.location = report.fix_location
    report.narrative = Narrative(source="template", text=narrative(report))
    return report
