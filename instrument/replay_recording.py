"""From a recording to a replay: the callbacks a GenServer ran, as ``Invocation`` objects.

When a capture traces a GenServer's callbacks with return values (docs/event-format.md,
"State history"), every ``handle_call/3`` leaves a ``call`` event whose arguments are
``[Request, From, State]``, a ``return`` event with ``{reply, R, NewState}`` (or an
``exception`` event with ``{Class, Reason}``), and ``state`` events before and after. That is
everything a replay needs: the state before the first callback of a window, each message in
order, and what each callback did. ``recorded_run`` pairs those events per process::

    rec = store.recording(3)
    run = recorded_run(rec, "CorruptedState.Accounts", until_event=crash_event.id, last=5)
    result = await replay_run(conn, run)          # does it crash again, the same way?
    source = generate_test(run.module, run.initial_state, run.invocations,
                           description=run.description)

Pairing rules: a ``call`` of a callback (``init/1``, ``handle_call/3``, ``handle_cast/2``,
``handle_info/2``, ``handle_continue/2``) opens a frame; the next ``return``/``exception`` of the
same function in the same process closes it. A callback that never returned inside the window
(the process was killed, is deadlocked, or the capture ended) is kept with no recorded
outcome and listed in ``unfinished``. When the state argument of the first callback was
truncated by the capture, the ``state`` event (phase ``before``) of the same callback is used
instead — the store keeps large states whole. Gaps (dropped events) inside the window are
reported: a replay across a gap may miss messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .etf import Atom
from .replay_model import TRUNCATED, Callback, Invocation, Outcome, ReplayInputError, ReplayResult, module_atom

if TYPE_CHECKING:
    from elixir_scope.store import Event, Gap, Recording

    from .dist import Connection

__all__ = ["RecordedRun", "recorded_run", "replay_run"]

_CALLBACKS = {
    ("init", 1): Callback.INIT,
    ("handle_call", 3): Callback.CALL,
    ("handle_cast", 2): Callback.CAST,
    ("handle_info", 2): Callback.INFO,
    ("handle_continue", 2): Callback.CONTINUE,
}
_BEFORE = Atom("before")
_PAGE = 5000


@dataclass(frozen=True)
class RecordedRun:
    """The callbacks one process ran in a window of a recording, ready to replay."""

    recording_id: int
    process: str
    module: Atom
    initial_state: Any
    invocations: list[Invocation]
    first_event_id: int
    last_event_id: int
    unfinished: list[int] = field(default_factory=list)  # call event ids with no return/exception
    gaps: list["Gap"] = field(default_factory=list)

    @property
    def description(self) -> str:
        return (f"recording {self.recording_id}, process {self.process}, events "
                f"{self.first_event_id}..{self.last_event_id} ({len(self.invocations)} callbacks)")

    @property
    def failure(self) -> Invocation | None:
        """The last invocation that raised in the recording, if any."""
        return next((i for i in reversed(self.invocations) if i.recorded is not None and i.recorded.crashed), None)


@dataclass
class _Frame:
    callback: Callback
    mfa: Any
    args: list
    event_id: int
    state_before: Any = None
    outcome: Outcome | None = None


def _is_truncated(t: Any) -> bool:
    return t is TRUNCATED or (type(t) is tuple and len(t) == 3 and t[0] is TRUNCATED)


def recorded_run(
    recording: "Recording",
    process: Any,
    *,
    module: str | Atom | None = None,
    since: int | None = None,
    until: int | None = None,
    until_event: int | None = None,
    last: int | None = None,
) -> RecordedRun:
    """The callbacks ``process`` ran, paired with their outcomes.

    ``process`` is anything ``Recording.resolve_process`` takes (pid text, registered name,
    ``ProcessInfo``); a name that several incarnations held (a restart after a crash) means the
    one that crashed in the window. The window is ``since <= ts <= until`` (node monotonic time) and event ids
    ``<= until_event`` (e.g. the crash); ``last`` keeps only the last N callbacks (the initial
    state is then the state before the first of them). ``module`` picks the callback module
    when a process ran callbacks of several (default: the only one seen)."""
    want = module_atom(module).name if module is not None else None
    window = dict(since=since, until=until, until_event=until_event)
    candidates = recording.resolve_processes(process)
    if len(candidates) <= 1:
        proc = recording.resolve_process(process)  # the store's own error when none
        frames, gaps = _collect(recording, proc, want, **window)
    else:
        # A registered name outlives a crash: the name then names every incarnation. The one
        # whose callback raised is the one to replay; anything else is ambiguous.
        runs = [(p, *_collect(recording, p, want, **window)) for p in candidates]
        crashed = [r for r in runs if any(f.outcome is not None and f.outcome.crashed for f in r[1])]
        if len(crashed) != 1:
            labels = ", ".join(p.label for p in candidates)
            raise ReplayInputError(
                f"{process!r} names {len(candidates)} processes in recording {recording.id} ({labels}) "
                f"and {len(crashed)} of them crashed in that window; pass one pid text, e.g. "
                f"{candidates[0].pid_text!r}")
        proc, frames, gaps = crashed[0]
    if not frames:
        raise ReplayInputError(
            f"no GenServer callbacks of {proc.label} in that window of recording {recording.id}; "
            "the capture must trace the module's callbacks (e.g. 'MyApp.Server' with return values)")
    modules = {f.mfa.module for f in frames}
    if len(modules) > 1:
        raise ReplayInputError(
            f"{proc.label} ran callbacks of several modules ({', '.join(sorted(modules))}); pass module=")
    if last is not None:
        if last < 1:
            raise ReplayInputError(f"last must be at least 1, got {last}")
        frames = frames[-last:]
    first = frames[0]
    if first.callback is Callback.INIT:
        initial_state = None
    else:
        initial_state = first.args[-1]
        if _is_truncated(initial_state) and first.state_before is not None:
            initial_state = first.state_before
    invocations = [
        Invocation(f.callback, f.args[0], recorded=f.outcome, source=f"event {f.event_id}") for f in frames]
    return RecordedRun(
        recording_id=recording.id,
        process=proc.label,
        module=Atom(first.mfa.module),
        initial_state=initial_state,
        invocations=invocations,
        first_event_id=frames[0].event_id,
        last_event_id=frames[-1].event_id,
        unfinished=[f.event_id for f in frames if f.outcome is None],
        gaps=gaps,
    )


def _collect(recording: "Recording", proc: Any, want: str | None, *, since: int | None,
             until: int | None, until_event: int | None) -> tuple[list[_Frame], list]:
    """Page through one process's call/return/exception/state events and pair them."""
    from elixir_scope.store import EventKind

    kinds = [EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION, EventKind.STATE]
    frames: list[_Frame] = []
    open_frames: list[_Frame] = []
    pending_before: dict[Any, Any] = {}
    gaps: list = []
    cursor = None
    while True:
        page = recording.events(kind=kinds, pid=proc, since=since, until=until, after_id=cursor,
                                before_id=None if until_event is None else until_event + 1, limit=_PAGE)
        gaps += [g for g in page.gaps if g not in gaps]
        for ev in page:
            _pair(ev, want, frames, open_frames, pending_before)
        if page.next_after_id is None:
            return frames, gaps
        cursor = page.next_after_id


def _pair(ev: "Event", want: str | None, frames: list, open_frames: list, pending_before: dict) -> None:
    from elixir_scope.store import EventKind

    mfa = ev.mfa
    if mfa is None:
        return
    cb = _CALLBACKS.get((mfa.function, mfa.arity))
    if cb is None or (want is not None and mfa.module != want):
        return
    if ev.kind is EventKind.CALL:
        args = ev.payload
        if not isinstance(args, list):  # the whole argument list was cut: {'$truncated', term, Size}
            args = [TRUNCATED] * mfa.arity
        frame = _Frame(cb, mfa, list(args), ev.id, pending_before.pop(mfa, None))
        frames.append(frame)
        open_frames.append(frame)
    elif ev.kind is EventKind.STATE:
        phase, state = ev.payload
        if phase is not _BEFORE:
            return
        target = next((f for f in reversed(open_frames) if f.mfa == mfa), None)
        if target is not None and target.state_before is None:
            target.state_before = state
        else:
            pending_before[mfa] = state
    else:
        target = next((f for f in reversed(open_frames) if f.mfa == mfa), None)
        if target is None:
            return  # its call was before the window
        open_frames.remove(target)
        if ev.kind is EventKind.RETURN:
            target.outcome = Outcome.returned(ev.payload)
        else:
            klass, reason = ev.payload
            target.outcome = Outcome.exception(klass, reason)


async def replay_run(conn: "Connection", run: RecordedRun, **options: Any) -> ReplayResult:
    """``replay`` of a recorded run (options as for ``replay``: step_timeout, max_messages...)."""
    from .replay import replay

    return await replay(conn, run.module, run.initial_state, run.invocations, **options)
