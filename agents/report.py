"""Rendering a :class:`~elixir_scope.agents.findings.Report` for people (Markdown, with a
message sequence diagram in Mermaid and a state-diff table) and for automation (JSON).

Rendering is pure: it reads the report and nothing else, so a report saved as JSON renders
the same Markdown later (``elixir-scope diagnose --from-json``).
"""

from __future__ import annotations

from .findings import NO_FUNCTION, Culprit, Evidence, Finding, MessageArrow, Report, StateDiff

_MAX_EVIDENCE = 12
_MAX_ARROWS = 20
_MAX_STATE_ROWS = 20
_MAX_GAPS = 6


def render_json(report: Report) -> str:
    return report.to_json()


def render_markdown(report: Report) -> str:
    out: list[str] = []
    out.append(f"# Diagnosis: {report.symptom}")
    meta = []
    if report.nodes:
        meta.append("nodes " + ", ".join(f"`{n}`" for n in report.nodes))
    elif report.node:
        meta.append(f"node `{report.node}`")
    if report.recording_id is not None:
        meta.append(f"recording {report.recording_id}" + (f" in `{report.store}`" if report.store else ""))
    if meta:
        out.append("_" + ", ".join(meta) + "_")
    out.append("")
    rc = report.root_cause
    if rc is None:
        # problems_found: facts were found, none strong enough for a root cause (the JSON's verdict)
        out.append("## Verdict: " + ("problems found, no root cause" if report.verdict == "problems_found"
                                     else "inconclusive"))
        out.append("")
        if report.not_recorded and report.recording_id is None:
            out.append(f"Nothing was recorded, so there is no evidence to judge: {report.not_recorded}.")
        else:
            out.append(
                "The evidence did not single out a root cause in this recording. "
                + ("Other problems were found (below). " if report.findings else "")
                + "Capture longer, reproduce the problem while recording, or widen the plan."
            )
            if report.not_recorded:
                out.append("")
                out.append(f"The last round could not record: {report.not_recorded}.")
        if report.suspect is not None:
            out.append("")
            out.append(f"### Where to look first (low confidence): {report.suspect.title}")
            out.append("")
            out.append(report.suspect.summary)
            out.append("")
            out.append(_culprit_line(report.suspect).replace("**Culprit:**", "**Suspect:**", 1))
            if report.suspect.weak:
                out.append("")
                out.append(f"_Not a verdict: {report.suspect.weak}._")
        if report.observations:
            out.append("")
            out.append("### What the recording shows (leads, not a verdict)")
            out.append("")
            out.extend(f"- {_evidence_text(ev)}" for ev in report.observations)
    else:
        out.append(f"## Root cause: {rc.title}")
        out.append("")
        out.append(rc.summary)
        out.append("")
        out.append(_culprit_line(rc))
        pattern = _winning_pattern(report)
        if pattern:
            out.append("")
            out.append(pattern)
    out.append("")
    if report.gaps:   # before the evidence they qualify, not under it
        more = len(report.gaps) - _MAX_GAPS
        out.append("> **Gaps:** " + "; ".join(report.gaps[:_MAX_GAPS])
                   + (f"; … {more} more in the JSON report" if more > 0 else ""))
        out.append("")
    if report.narrative and report.narrative.source == "claude":
        # the templated narrative tells, in sentences, what the sections of this page show: it is
        # for readers of the JSON; a model's explanation is new, and shown
        text = report.narrative.text.strip()
        if rc is not None and text.startswith(rc.summary):
            text = text[len(rc.summary):].strip()
        if text:
            out.append(f"## Explanation (by {report.narrative.model})")
            out.append("")
            out.append(text)
            out.append("")
    if rc is not None:
        if rc.causal_chain:
            out.append("## Causal chain")
            out.append("")
            for i, ev in enumerate(rc.causal_chain, 1):
                out.append(f"{i}. {_evidence_text(ev)}")
            out.append("")
        if rc.messages:
            out.append("## Message sequence")
            out.append("")
            out.extend(_sequence_diagram(rc.messages))
            out.append("")
        if rc.state_diffs:
            out.append("## State changes")
            out.append("")
            out.extend(_state_table(rc.state_diffs))
            out.append("")
        # the causal chain's events are not listed a second time
        told = {(e.event_id, e.summary) for e in rc.causal_chain}
        rest = [e for e in rc.evidence if (e.event_id, e.summary) not in told]
        out.append("## Evidence" + (" (besides the causal chain)" if 0 < len(rest) < len(rc.evidence) else ""))
        out.append("")
        out.extend(["The events of the causal chain above."] if rc.causal_chain and not rest else _evidence_table(rest))
        out.append("")
    if report.fix or (rc and rc.fix_hint):
        out.append("## Suggested fix")
        out.append("")
        if rc and rc.fix_hint:
            out.append(rc.fix_hint)
            out.append("")
        if report.fix:
            out.append(report.fix)
            out.append("")
        if report.fix_location:
            loc = report.fix_location
            out.append(f"Where: `{loc.file}:{loc.line}`" + (f" (`{loc.function}`)" if loc.function else ""))
            out.append("")
        if report.fix_example:
            out.append("```elixir")
            out.append(report.fix_example.strip())
            out.append("```")
            out.append("")
    if report.replay_check:
        rc_ = report.replay_check
        out.append(f"## Confirmed by replay: {rc_['verdict']}")
        out.append("")
        out.append(rc_["reason"])
        ex = rc_.get("exunit") or {}
        if ex.get("source"):
            state = ("it fails as recorded" if ex.get("fails_as_recorded") else
                     "it was run and did not fail as recorded" if ex.get("ran") else "not run")
            out.append("")
            out.append(f"The regression test ({state}; it passes once the bug is fixed):")
            out.append("")
            out.append("```elixir")
            out.append(ex["source"].strip()[:6000])
            out.append("```")
        elif ex.get("error"):
            out.append("")
            out.append(f"No regression test: {ex['error']}")
        out.append("")
    if report.model_claims:
        out.append("## The model's decision")
        out.append("")
        out.append(f"Verdict set by: {report.decided_by}.")
        for n in report.model_claims:
            out.append(f"- {n}")
        out.append("")
    if len(report.rounds) > 1 or (report.rounds and not report.rounds[0].decided):
        out.append("## Rounds")
        out.append("")
        for r in report.rounds:
            lead = "; ".join(f"{t['title']} ({t['score']:.2f})" for t in r.top[:2]) or "no hypothesis"
            out.append(f"{r.round}. recording {r.recording_id}, {r.seconds or 0:g} s — leading: {lead}. "
                       f"{r.next[:1].upper()}{r.next[1:]}")
        out.append("")
    if report.hypotheses:
        out.append("## Hypotheses")
        out.append("")
        if report.why_winner:
            out.append(report.why_winner)
            out.append("")
        out.extend(_hypothesis_table(report))
        out.append("")
    shown = [f for f in (rc, report.suspect) if f is not None]   # told above, not listed again
    others = [f for f in report.findings if not any(f.id == x.id or f.title == x.title for x in shown)]
    if others:
        out.append("## Other facts")
        out.append("")
        for f in others[:8]:
            cause = f" (caused by `{f.caused_by}`)" if f.caused_by else ""
            weak = f" Weak evidence on its own: {f.weak}." if f.weak else ""
            out.append(f"- `{f.id}` **{f.title}** (confidence {f.confidence:.0%}){cause}: {f.summary}{weak}")
        out.append("")
    if report.knowledge:
        out.append("## Related knowledge")
        out.append("")
        for k in report.knowledge:
            out.append(f"- `{k.id}` {k.title} (score {k.score:.2f})")
        out.append("")
    if report.plan:
        out.append("## What was recorded")
        out.append("")
        for s in report.plan.specs:
            out.append(f"- `{s.spec}` — {s.why}")
        if report.plan.state_modules:
            out.append(f"- state history of {', '.join(f'`{m}`' for m in report.plan.state_modules)}")
        if report.plan.lifecycle:
            out.append("- process lifecycle (spawn, exit, links)")
        if report.capture:
            stats = ", ".join(f"{k} {v}" for k, v in report.capture.items())
            out.append(f"- capture: {stats}")
        out.append("")
    if report.timings_ms:
        out.append(
            "_Timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in report.timings_ms.items()) + "_"
        )
    return "\n".join(out).rstrip() + "\n"


def _hypothesis_table(report: Report) -> list[str]:
    rows = ["| # | hypothesis | score | symptom | evidence | supported by | contradicted by | culprit |",
            "| ---: | --- | ---: | ---: | ---: | --- | --- | --- |"]
    for i, h in enumerate(report.hypotheses[:6], 1):
        sup = ", ".join(f"#{e}" for e in h.supporting_events[:5]) or "–"
        con = ", ".join(f"#{e}" for e in h.contradicting_events[:5]) or "–"
        who = _who(h.culprit) if h.culprit else "–"
        title = h.title.replace("|", "/") + (" — _signature does not fit_" if h.misfit else "")
        rows.append(f"| {i} | {title} (`{h.id}`) | {h.score:.2f} | {h.symptom_score:.2f} | {h.evidence_score:.2f} "
                    f"| {sup} | {con} | {who} |")
    return rows


def _winning_pattern(report: Report) -> str | None:
    """The knowledge-base pattern the verdict is an instance of, when the winner is one."""
    win = report.hypotheses[0].id if report.hypotheses else None
    k = next((k for k in report.knowledge if k.id == win), None)
    return f"This is the pattern “{k.title}” (`{k.id}`) from the knowledge base." if k else None


def _who(c: Culprit) -> str:
    """``Module.fun/1`` in code type; a module alone says no function was identified."""
    return f"`{c.where}`" + ("" if c.function else f" ({NO_FUNCTION})")


def _culprit_line(f: Finding) -> str:
    c = f.culprit
    parts = [f"**Culprit:** {_who(c)}"]
    if c.process:
        parts.append(f"in process `{c.process}`")
    if c.node:
        parts.append(f"on node `{c.node}`")
    if c.detail:
        parts.append(f"— offending value: `{c.detail}`")
    if c.location:
        parts.append(f"at `{c.location.file}:{c.location.line}`")
    return " ".join(parts) + f" (confidence {f.confidence:.0%})"


def _evidence_text(ev: Evidence) -> str:
    where = ev.process or ev.pid or ""
    at = f"+{ev.at_ms:.1f} ms " if ev.at_ms is not None else ""
    ident = f"[#{ev.event_id}] " if ev.event_id is not None else ""
    return f"{ident}{at}{ev.kind} in `{where}`: {ev.summary}" if where else f"{ident}{at}{ev.kind}: {ev.summary}"


def _evidence_table(items: list[Evidence]) -> list[str]:
    rows = ["| event | at | process | kind | what |", "| ---: | ---: | --- | --- | --- |"]
    for ev in items[:_MAX_EVIDENCE]:
        rows.append(
            "| {} | {} | {} | {} | {} |".format(
                ev.event_id if ev.event_id is not None else "–",
                f"+{ev.at_ms:.1f} ms" if ev.at_ms is not None else "–",
                _cell(ev.process or ev.pid or "–"),
                ev.kind,
                _cell(ev.summary),
            )
        )
    if len(items) > _MAX_EVIDENCE:
        rows.append(f"| … | | | | {len(items) - _MAX_EVIDENCE} more in the JSON report |")
    return rows


def _state_table(diffs: list[StateDiff]) -> list[str]:
    rows = ["| event | process | caused by | path | change | before | after |",
            "| ---: | --- | --- | --- | --- | --- | --- |"]
    changes = [(d, ch) for d in diffs for ch in d.changes]
    for d, ch in changes[:_MAX_STATE_ROWS]:
        rows.append(
            "| {} | {} | {} | `{}` | {} | {} | {} |".format(
                d.event_id if d.event_id is not None else "–",
                _cell(d.process or d.pid),
                _cell(d.caused_by or "–"),
                _cell(ch.path),
                ch.op,
                f"`{_cell(ch.before)}`" if ch.before is not None else "–",
                f"`{_cell(ch.after)}`" if ch.after is not None else "–",
            )
        )
    if len(changes) > _MAX_STATE_ROWS:
        rows.append(f"| … | | | | | | {len(changes) - _MAX_STATE_ROWS} more in the JSON report |")
    return rows


def _sequence_diagram(arrows: list[MessageArrow]) -> list[str]:
    names: dict[str, str] = {}

    def alias(p: str) -> str:
        if p not in names:
            names[p] = f"P{len(names) + 1}"
        return names[p]

    body = []
    for a in arrows[:_MAX_ARROWS]:
        arrow = "-->>" if a.kind in ("reply", "cast", "info") else "->>"
        if a.kind == "exit":
            arrow = "-x"
        label = a.message.replace(";", ",").replace("\n", " ")
        if len(label) > 60:
            label = label[:57] + "..."
        ident = f"#{a.send_event or a.receive_event} " if (a.send_event or a.receive_event) else ""
        body.append(f"    {alias(a.sender)}{arrow}{alias(a.receiver)}: {ident}{label}")
    lines = ["```mermaid", "sequenceDiagram"]
    for p, al in names.items():
        lines.append(f"    participant {al} as {p.replace(':', '')}")
    lines.extend(body)
    lines.append("```")
    return lines


def _cell(text: str | None) -> str:
    text = "" if text is None else str(text)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."
