"""Counterfactual replay: would the failure still happen without the suspected message?

A hypothesis that blames one message ("the ``{:update_profile, 2, %{email: nil}}`` cast left
a nil e-mail in the state, and the digest crashed on it later") can be tested on the real
code: replay the process's recorded callbacks in a scratch process twice, from the state
before the first of them — once as recorded, once with the suspected invocation left out —
and compare::

    cf = await counterfactual_from_recording(conn, rec, "CorruptedState.Accounts", suspect_event=41)
    cf.verdict        # Counterfactual verdict: CONFIRMED — without event 41 the digest no longer crashes
    print(cf.describe())

Verdicts:

- ``confirmed`` — the replay as recorded fails (the failure is reproduced) and without the
  suspect it does not fail at all: the suspect is necessary for the failure.
- ``refuted`` — without the suspect the same invocation still fails the same way (same
  class and reason): the failure does not need it.
- ``undetermined`` — anything else, with the reason: the failure is not reproduced by
  replaying this process alone (it depends on other processes, ETS, time), the run without
  the suspect fails differently or elsewhere, the suspect is the failing invocation itself
  or ``init``, the recording cannot be replayed (truncated or redacted terms, module not
  loaded, node gone).

The failure is the first step of the replay that crashed, timed out or returned a bad value
(``ReplayResult.failure``); when the recording itself recorded a failure, the replay must
reproduce that one. Like every replay, this runs the module's code for real on the node
(docs/replay.md: it is not a sandbox), twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Sequence

from .etf import Atom
from .replay_model import (
    Callback,
    Invocation,
    ReplayError,
    ReplayInputError,
    ReplayResult,
    Step,
    same_term,
)

if TYPE_CHECKING:
    from elixir_scope.store import Recording

    from .dist import Connection
    from .replay_recording import RecordedRun

__all__ = ["CounterfactualVerdict", "Counterfactual", "counterfactual", "counterfactual_from_recording",
           "find_suspect"]


class CounterfactualVerdict(str, enum.Enum):
    CONFIRMED = "confirmed"  # the failure goes away without the suspect
    REFUTED = "refuted"  # the failure persists without the suspect
    UNDETERMINED = "undetermined"  # see Counterfactual.reason


@dataclass(frozen=True)
class Counterfactual:
    """The outcome of replaying with and without one suspected invocation."""

    verdict: CounterfactualVerdict
    reason: str  # one sentence: why this verdict
    module: Atom
    suspect_index: int
    suspect: Invocation
    with_suspect: ReplayResult | None = None  # None when the replay could not run
    without_suspect: ReplayResult | None = None
    notes: list[str] = field(default_factory=list)  # gaps, unfinished callbacks: caveats
    source: str | None = None  # where the invocations came from (RecordedRun.description)

    @property
    def failure(self) -> Step | None:
        """The failing step of the replay as recorded (None when it did not fail)."""
        return self.with_suspect.failure if self.with_suspect is not None else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data (terms as Elixir text) for JSON reports and tools."""
        from .etf.inspect import inspect

        def step(s: Step | None) -> dict[str, Any] | None:
            if s is None:
                return None
            out: dict[str, Any] = {"index": s.index, "callback": s.invocation.callback.value,
                                   "source": s.invocation.source, "status": s.status.value}
            if s.outcome is not None and s.outcome.crashed:
                out["error"] = f"{s.outcome.error_class.name} {inspect(s.outcome.reason, limit=10)}"[:300]
            return out

        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "module": self.module.name,
            "suspect": {"index": self.suspect_index, "callback": self.suspect.callback.value,
                        "source": self.suspect.source,
                        "message": inspect(self.suspect.message, limit=10, printable_limit=80)[:300]},
            "failure_with_suspect": step(self.failure),
            "failure_without_suspect": step(self.without_suspect.failure) if self.without_suspect else None,
            "notes": list(self.notes),
            "source": self.source,
        }

    def describe(self, *, limit: int = 10, width: int = 160) -> str:
        """A short text report: the verdict and why, then both replays step by step."""
        from .etf.inspect import inspect

        msg = " ".join(inspect(self.suspect.message, limit=limit, printable_limit=60).split())[:width]
        src = f" [{self.suspect.source}]" if self.suspect.source else ""
        lines = [f"counterfactual: {self.verdict.value} — {self.reason}",
                 *([f"source: {self.source}"] if self.source else []),
                 f"suspect: #{self.suspect_index} {self.suspect.callback.value}({msg}){src}"]
        if self.with_suspect is not None:
            lines += ["", "as recorded:", self.with_suspect.describe(limit=limit, width=width)]
        if self.without_suspect is not None:
            lines += ["", "without the suspect:", self.without_suspect.describe(limit=limit, width=width)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _same_failure(a: Step, b: Step) -> bool:
    if a.status is not b.status:
        return False
    if a.outcome is None or b.outcome is None:
        return a.outcome is b.outcome
    return a.outcome.matches(b.outcome)


def _failure_text(step: Step) -> str:
    from .etf.inspect import inspect

    head = f"#{step.index} {step.invocation.callback.value}"
    if step.outcome is not None and step.outcome.crashed:
        reason = " ".join(inspect(step.outcome.reason, limit=6, printable_limit=40).split())[:120]
        return f"{head} raised {step.outcome.error_class.name} {reason}"
    return f"{head} {step.status.value}"


async def counterfactual(
    conn: "Connection",
    module: str | Atom,
    initial_state: Any,
    invocations: Sequence[Invocation],
    suspect_index: int,
    *,
    notes: Sequence[str] = (),
    **replay_options: Any,
) -> Counterfactual:
    """Replay ``invocations`` from ``initial_state`` with and without ``invocations[suspect_index]``
    and judge whether the suspect is necessary for the failure (see the module docs).

    ``replay_options`` go to ``replay`` (``step_timeout``, ``max_messages``, ``allow_redacted``).
    Bad input (an index out of range) raises ``ReplayInputError``; a replay that cannot run on
    the node gives an ``undetermined`` verdict that says why."""
    from .replay import module_atom, replay

    mod = module_atom(module)
    invocations = list(invocations)
    if not 0 <= suspect_index < len(invocations):
        raise ReplayInputError(
            f"suspect_index {suspect_index} is out of range: there are {len(invocations)} invocations")
    suspect = invocations[suspect_index]

    def verdict(v: CounterfactualVerdict, reason: str, with_s: ReplayResult | None = None,
                without_s: ReplayResult | None = None) -> Counterfactual:
        return Counterfactual(v, reason, mod, suspect_index, suspect, with_s, without_s, list(notes))

    if suspect.callback is Callback.INIT:
        return verdict(CounterfactualVerdict.UNDETERMINED,
                       "the suspect is init/1: without it there is no server to replay; suspect a later message")
    try:
        with_s = await replay(conn, mod, initial_state, invocations, **replay_options)
    except ReplayError as exc:
        return verdict(CounterfactualVerdict.UNDETERMINED, f"the recorded callbacks could not be replayed: {exc}")
    failure = with_s.failure
    recorded_failure = next((i for i, inv in enumerate(invocations)
                             if inv.recorded is not None and inv.recorded.crashed), None)
    if failure is None:
        return verdict(CounterfactualVerdict.UNDETERMINED,
                       "replaying this process's callbacks as recorded does not fail, so the failure depends on "
                       "more than this process's messages and state (other processes, ETS, time)", with_s)
    if recorded_failure is not None and (failure.index != recorded_failure or failure.matches_recorded is not True):
        return verdict(CounterfactualVerdict.UNDETERMINED,
                       f"the replay as recorded fails at {_failure_text(failure)}, not the way the recording "
                       f"did (invocation #{recorded_failure}); the callbacks depend on something outside "
                       "the replayed state", with_s)
    if suspect_index >= failure.index:
        what = "is the failing invocation itself" if suspect_index == failure.index else "comes after the failure"
        return verdict(CounterfactualVerdict.UNDETERMINED,
                       f"the suspect {what}: suspect an earlier message", with_s)

    rest = invocations[:suspect_index] + invocations[suspect_index + 1:]
    try:
        without_s = await replay(conn, mod, initial_state, rest, **replay_options)
    except ReplayError as exc:
        return verdict(CounterfactualVerdict.UNDETERMINED,
                       f"the replay without the suspect could not run: {exc}", with_s)
    other = without_s.failure
    # the failing invocation's index in the run without the suspect
    moved = failure.index - 1
    if other is None:
        return verdict(CounterfactualVerdict.CONFIRMED,
                       f"as recorded the replay fails ({_failure_text(failure)}); without the suspect every "
                       "callback completes", with_s, without_s)
    if other.index == moved and _same_failure(failure, other):
        return verdict(CounterfactualVerdict.REFUTED,
                       f"without the suspect the same invocation still fails the same way "
                       f"({_failure_text(failure)})", with_s, without_s)
    return verdict(CounterfactualVerdict.UNDETERMINED,
                   f"without the suspect the replay fails differently ({_failure_text(other)} instead of "
                   f"{_failure_text(failure)}): the suspect changes the failure but is not its only cause",
                   with_s, without_s)


def find_suspect(recording: "Recording", run: "RecordedRun", event_id: int) -> int:
    """The index in ``run.invocations`` of the invocation an event stands for: the callback's
    own ``call`` event; the ``receive`` of its message (the first invocation of that message
    at or after the receive); or a ``state`` / ``return`` / ``exception`` event of the process
    while the callback ran (e.g. the state change a diagnosis cites). Raises
    ``ReplayInputError`` saying what to pass instead."""
    from elixir_scope.store import EventKind

    for i, inv in enumerate(run.invocations):
        if inv.source == f"event {event_id}":
            return i
    try:
        event = recording.event(event_id)
    except LookupError as exc:
        raise ReplayInputError(f"no event {event_id} in recording {recording.id}") from exc
    if event.kind is EventKind.RECEIVE:
        message = _callback_message(event.payload)
        for i, inv in enumerate(run.invocations):
            if _event_number(inv.source) >= event_id and same_term(inv.message, message):
                return i
    same_process = event.pid_text == run.process.split()[0]
    if same_process and event.kind in (EventKind.STATE, EventKind.RETURN, EventKind.EXCEPTION):
        # an event of a callback in flight (its state change, its return): that callback
        opened = [i for i, inv in enumerate(run.invocations) if 0 <= _event_number(inv.source) <= event_id]
        if opened:
            return opened[-1]
    ids = ", ".join(str(inv.source) for inv in run.invocations[:12])
    raise ReplayInputError(
        f"event {event_id} ({event}) is not one of the replayed callbacks of {run.process}; pass the call "
        f"event of a callback in the window (one of: {ids}), the receive event of its message, or a state "
        "event of that process")


def _event_number(source: str | None) -> int:
    try:
        return int(str(source).split()[-1])
    except (ValueError, IndexError):
        return -1


def _callback_message(payload: Any) -> Any:
    """What a callback gets from a received message: the request of ``{'$gen_call', From, Req}``,
    the message of ``{'$gen_cast', Msg}``, else the message itself (handle_info)."""
    if type(payload) is tuple:
        if len(payload) == 3 and payload[0] == Atom("$gen_call"):
            return payload[2]
        if len(payload) == 2 and payload[0] == Atom("$gen_cast"):
            return payload[1]
    return payload


async def counterfactual_from_recording(
    conn: "Connection",
    recording: "Recording",
    process: Any,
    suspect_event: int,
    *,
    module: str | Atom | None = None,
    until_event: int | None = None,
    last: int | None = None,
    **replay_options: Any,
) -> Counterfactual:
    """``counterfactual`` over the callbacks ``process`` ran in ``recording`` (``recorded_run``
    with ``module``, ``until_event`` and ``last``), suspecting the invocation of
    ``suspect_event`` (its call event, or the receive of its message)."""
    from .replay_recording import recorded_run

    run = recorded_run(recording, process, module=module, until_event=until_event, last=last)
    index = find_suspect(recording, run, suspect_event)
    notes = []
    if run.gaps:
        notes.append(f"{len(run.gaps)} gap(s) (dropped events) in the window: a message may be missing from the replay")
    if run.unfinished:
        notes.append(f"callbacks that never returned in the recording: events {run.unfinished[:5]}")
    result = await counterfactual(conn, run.module, run.initial_state, run.invocations, index,
                                  notes=notes, **replay_options)
    return replace(result, source=run.description)
