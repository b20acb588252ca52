"""Output models for replay, counterfactual replay and ExUnit generation (the ``replay`` and
``generate_exunit`` tools, and ``elixir-scope replay`` / ``exunit --json``).

Bounded: at most ``MAX_INVOCATIONS`` callbacks are replayed (a longer window is refused with
how to narrow it), at most ``SHOWN_STEPS`` steps are listed (the first few and the last ones,
where failures are), every term is short Elixir text, and the ExUnit source is cut at
``MAX_SOURCE_CHARS`` (the full file can be written to disk).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .models import term_text

MAX_INVOCATIONS = 500
SHOWN_STEPS = 40
HEAD_STEPS = 10
MAX_SOURCE_CHARS = 40_000
STATE_CHARS = 3000


class ReplayWindowError(ValueError):
    """The window holds more callbacks than a tool replays at once."""


class ReplayStep(BaseModel):
    index: int
    callback: str
    message: str = Field(description="The message the callback got (Elixir text, bounded).")
    source: str | None = Field(description="Where it came from, e.g. 'event 41' (open it with the event tools).")
    status: str = Field(description="continued, stopped, halted, bad_return, crashed, timed_out or not_run.")
    outcome: str | None = Field(description="'returned ...' or 'raised error ...' (bounded).")
    micros: int | None = None
    matches_recorded: bool | None = Field(description="True/False when the recording has an outcome to compare.")


class ReplayReport(BaseModel):
    process: str | None = Field(description="The recorded process whose callbacks were replayed.")
    module: str
    window: str | None = Field(description="Recording, process and events the callbacks came from.")
    verdict: str = Field(description="reproduced (every recorded outcome matched), diverged, or unverified.")
    invocations: int
    failure: ReplayStep | None = Field(description="The step that crashed, timed out or returned a bad value.")
    first_divergence: ReplayStep | None
    state_before_failure: str | None = Field(description="The replayed state the failing callback got (bounded).")
    steps: list[ReplayStep] = Field(description=f"At most {SHOWN_STEPS} steps: the first and the last ones.")
    steps_omitted: int = 0
    scratch_messages: int = Field(0, description="Messages the callbacks sent to the scratch process.")
    notes: list[str] = []


class CounterfactualReport(BaseModel):
    verdict: str = Field(description="confirmed (the failure goes away without the suspect), refuted "
                         "(it persists), or undetermined.")
    reason: str
    suspect: ReplayStep
    with_suspect: ReplayReport | None = Field(description="The replay as recorded.")
    without_suspect: ReplayReport | None = Field(description="The replay without the suspected invocation.")
    notes: list[str] = []


class ExUnitReport(BaseModel):
    module: str = Field(description="The ExUnit test module generated.")
    window: str
    failing_callback: str | None = Field(description="The recorded failure the test replays, if any.")
    source: str = Field(description="The .exs test file (bounded; file_name= writes the whole file).")
    source_truncated: bool = False
    path: str | None = Field(None, description="Where the file was written, if asked.")
    ran: bool = False
    fails_as_recorded: bool | None = Field(None, description="After a run: it failed exactly as the recording did.")
    failure_banner: str | None = Field(None, description="ExUnit's first line of the failure, after a run.")
    output_tail: str | None = Field(None, description="The end of the test run's output (bounded).")


def _outcome_text(outcome: Any) -> str | None:
    if outcome is None:
        return None
    if outcome.crashed:
        return f"raised {outcome.error_class.name} {term_text(outcome.reason, limit=10, printable_limit=80)}"[:300]
    return f"returned {term_text(outcome.value, limit=10, printable_limit=80)}"[:300]


def step_model(step: Any) -> ReplayStep:
    inv = step.invocation
    return ReplayStep(index=step.index, callback=inv.callback.value,
                      message=term_text(inv.message, limit=10, printable_limit=80)[:300], source=inv.source,
                      status=step.status.value, outcome=_outcome_text(step.outcome), micros=step.micros,
                      matches_recorded=step.matches_recorded)


def invocation_model(index: int, inv: Any) -> ReplayStep:
    return ReplayStep(index=index, callback=inv.callback.value,
                      message=term_text(inv.message, limit=10, printable_limit=80)[:300], source=inv.source,
                      status="suspect", outcome=_outcome_text(inv.recorded), matches_recorded=None)


def replay_report(result: Any, *, process: str | None = None, window: str | None = None,
                  notes: list[str] | None = None, initial_state: Any = None) -> ReplayReport:
    steps = result.steps
    shown = steps if len(steps) <= SHOWN_STEPS else steps[:HEAD_STEPS] + steps[-(SHOWN_STEPS - HEAD_STEPS):]
    failure = result.failure
    before = None
    if failure is not None:
        prior = [s for s in steps if s.index < failure.index and s.state_after is not None]
        state = prior[-1].state_after if prior else initial_state
        if state is not None:
            before = term_text(state, limit=50, printable_limit=400)[:STATE_CHARS]
    div = result.first_divergence
    mod = result.module.name
    return ReplayReport(
        process=process, module=mod[7:] if mod.startswith("Elixir.") else mod, window=window,
        verdict=result.verdict.value, invocations=len(steps),
        failure=step_model(failure) if failure is not None else None,
        first_divergence=step_model(div) if div is not None else None,
        state_before_failure=before, steps=[step_model(s) for s in shown],
        steps_omitted=len(steps) - len(shown), scratch_messages=result.scratch_message_count,
        notes=list(notes or []))


def counterfactual_report(cf: Any, *, process: str | None = None, initial_state: Any = None) -> CounterfactualReport:
    def one(result: Any) -> ReplayReport | None:
        if result is None:
            return None
        return replay_report(result, process=process, window=cf.source, initial_state=initial_state)

    return CounterfactualReport(verdict=cf.verdict.value, reason=cf.reason,
                                suspect=invocation_model(cf.suspect_index, cf.suspect),
                                with_suspect=one(cf.with_suspect), without_suspect=one(cf.without_suspect),
                                notes=list(cf.notes))


def run_notes(run: Any) -> list[str]:
    notes = []
    if run.gaps:
        notes.append(f"{len(run.gaps)} gap(s) (dropped events) in the window: a message may be missing")
    if run.unfinished:
        notes.append(f"callbacks that never returned in the recording: events {run.unfinished[:5]}")
    return notes


def recorded_node(recording: Any) -> str | None:
    """The node a single-node recording was made on (where its code runs), else None."""
    nodes = recording.nodes()
    return nodes[0].name if len(nodes) == 1 else None


def check_window(run: Any) -> None:
    n = len(run.invocations)
    if n > MAX_INVOCATIONS:
        raise ReplayWindowError(
            f"the window holds {n} callbacks of {run.process}; replay at most {MAX_INVOCATIONS} at once: "
            "narrow it with last=N (the last N callbacks) and/or until_event=ID (e.g. the crash)")
