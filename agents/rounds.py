"""When a diagnosis takes another round, and what that round looks at: whether the leading
hypothesis is confirmed, the unrecorded nodes its culprit waits on, how much longer the next
capture lasts when nothing was seen, and which application modules the last recording showed
running. Pure functions of the graph's state (or a recording's view); agents/graph.py's
``judge`` and ``refocus`` nodes act on them.
"""

from __future__ import annotations

from .state import DiagnosisState
from .view import RecordingView


def decided(state: DiagnosisState) -> tuple[bool, str]:
    """Whether the leading hypothesis is confirmed, and why (or why not)."""
    from .hypotheses import MIN_VERDICT

    hs = state.hypotheses
    if not hs:
        return False, "no fact in the recording supports any explanation"
    top = hs[0]
    if top.evidence_score < MIN_VERDICT:
        # the round's record names the leading hypothesis already: not again here
        return False, f"the leading hypothesis's evidence is too weak ({top.evidence_score:.2f} < {MIN_VERDICT})"
    if len(hs) > 1:
        second = hs[1]
        same = (top.culprit and second.culprit and (top.culprit.module, top.culprit.function)
                == (second.culprit.module, second.culprit.function))
        if not same and top.score - second.score < 0.03 and second.evidence_score >= MIN_VERDICT:
            return False, f"two explanations remain close: {top.title} ({top.score:.2f}) and {second.title} ({second.score:.2f})"
    return True, f"{top.title} is confirmed by {len(top.supporting_events)} event(s)"


def out_of_sight(state: DiagnosisState) -> list[str]:
    """The nodes not recorded that the leading culprit's process called without an answer: what
    holds it up is there, out of sight."""
    top = state.hypotheses[0] if state.hypotheses else None
    if top is None or top.culprit is None or not top.culprit.process:
        return []
    return list(dict.fromkeys(node for node, caller in state.unrecorded if caller == top.culprit.process))


def weak(state: DiagnosisState) -> bool:
    """Nothing decisive was seen: no hypothesis, or the best one's evidence under the bar."""
    from .hypotheses import MIN_VERDICT

    return not state.hypotheses or state.hypotheses[0].evidence_score < MIN_VERDICT


def next_round_reason(state: DiagnosisState) -> str:
    if weak(state):
        return f"nothing relevant was seen: record {wider(state.seconds):g} s instead of {state.seconds:g} s, with every module that appeared"
    names = ", ".join(h.title for h in state.hypotheses[:2])
    return f"refocus on {names}: record what their signatures need, with the modules that appeared"


def wider(seconds: float) -> float:
    return round(min(seconds * 3.0, 60.0), 1)


def modules_seen(view: RecordingView) -> set[str]:
    """Application modules the recording shows running: callbacks, initial calls, registered
    module names, stack frames of exits."""
    from .evidence.reasons import stack_frames
    from .view import is_app_module

    out = set()
    for c in view.calls:
        if is_app_module(c.module):
            out.add(c.module.removeprefix("Elixir."))
    for p in view.procs.values():
        if p.init_module and is_app_module(p.init_module):
            out.add(p.init_module.removeprefix("Elixir."))
    for e in view.exits:
        for f in stack_frames(e.reason):
            if is_app_module(f.module):
                out.add(f.module.removeprefix("Elixir."))
    return out
