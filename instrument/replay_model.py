"""The vocabulary of replay: callbacks, invocations, outcomes, steps, verdicts, and the
term comparison that decides whether a replayed outcome is the recorded one.

Kept apart from the driver (``replay.py``) so that consumers that only read recordings
(reports, the ExUnit generator, the store adapter) need no connection code.

Comparing outcomes (``same_term``): pids, references, ports and funs in a replayed term
cannot equal the recorded ones (the scratch process and its timers are new), so any pid
matches any pid, any ref any ref, and so on. Parts the recording truncated (``'$truncated'``)
or redacted (``'[REDACTED]'``) match anything.

Errors::

    ReplayError
    ├── ReplayInputError     bad invocations / state (truncated, wrong callback, no module)
    └── ReplayRemoteError    the target could not run the driver (module not loaded, node down)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .etf import Atom, Fun, ImproperList, Pid, Port, Ref

__all__ = [
    "Callback",
    "Outcome",
    "Invocation",
    "StepStatus",
    "Step",
    "Verdict",
    "ReplayResult",
    "ReplayError",
    "ReplayInputError",
    "ReplayRemoteError",
    "same_term",
    "module_atom",
    "TRUNCATED",
    "REDACTED",
]

TRUNCATED = Atom("$truncated")
REDACTED = Atom("[REDACTED]")


class ReplayError(Exception):
    """Base of the errors raised by replay."""


class ReplayInputError(ReplayError, ValueError):
    """The invocations or the state cannot be replayed as given (says what to change)."""


class ReplayRemoteError(ReplayError):
    """The target node could not run the replay (the message says why and what to do)."""


class Callback(str, enum.Enum):
    """The GenServer callbacks a replay can invoke, with their argument shapes."""

    INIT = "init"  # init(message) — message is the init argument
    CALL = "handle_call"  # handle_call(message, from, state)
    CAST = "handle_cast"  # handle_cast(message, state)
    INFO = "handle_info"  # handle_info(message, state)
    CONTINUE = "handle_continue"  # handle_continue(message, state)

    @property
    def arity(self) -> int:
        return {"init": 1, "handle_call": 3}.get(self.value, 2)

    @classmethod
    def parse(cls, value: "Callback | str") -> "Callback":
        if isinstance(value, Callback):
            return value
        text = str(value).split("/")[0]
        for cb in cls:
            if cb.value == text or cb.name.lower() == text.lower():
                return cb
        names = ", ".join(cb.value for cb in cls)
        raise ReplayInputError(f"unknown callback {value!r}; replay can invoke: {names}")


@dataclass(frozen=True)
class Outcome:
    """How one callback invocation ended: it returned ``value``, or raised
    ``error_class:reason`` (``error``, ``exit`` or ``throw``; a throw caught by gen_server is a
    return). ``stacktrace`` is known for replayed exceptions only (trace events carry none)."""

    kind: str  # "return" | "exception"
    value: Any = None
    error_class: Atom | None = None
    reason: Any = None
    stacktrace: list | None = None

    @classmethod
    def returned(cls, value: Any) -> "Outcome":
        return cls("return", value=value)

    @classmethod
    def exception(cls, error_class: Atom | str, reason: Any, stacktrace: list | None = None) -> "Outcome":
        klass = error_class if isinstance(error_class, Atom) else Atom(str(error_class))
        if klass.name not in ("error", "exit", "throw"):
            raise ReplayInputError(f"exception class must be error, exit or throw; got {klass.name!r}")
        return cls("exception", error_class=klass, reason=reason, stacktrace=stacktrace)

    @property
    def crashed(self) -> bool:
        return self.kind == "exception"

    def matches(self, other: "Outcome") -> bool:
        """Same kind and the same value / class and reason, under ``same_term`` rules."""
        if self.kind != other.kind:
            return False
        if self.kind == "return":
            return same_term(self.value, other.value)
        return self.error_class is other.error_class and same_term(self.reason, other.reason)


@dataclass(frozen=True)
class Invocation:
    """One callback to run: ``callback`` with ``message`` (the init argument for ``init``).
    ``recorded`` is what the recording says happened, if known; ``source`` is a free label
    (e.g. the trace event id) carried into the result for reports."""

    callback: Callback
    message: Any
    recorded: Outcome | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "callback", Callback.parse(self.callback))


class StepStatus(str, enum.Enum):
    CONTINUED = "continued"  # returned a valid value; the next step runs on its new state
    STOPPED = "stopped"  # returned {:stop, ...}: the server would stop here
    HALTED = "halted"  # init/1 returned {:stop, _} / :ignore
    BAD_RETURN = "bad_return"  # not a valid callback return: gen_server would exit {bad_return_value, V}
    CRASHED = "crashed"  # raised (error / exit)
    TIMED_OUT = "timed_out"  # did not finish within step_timeout; the scratch process was killed
    NOT_RUN = "not_run"  # an earlier step ended the run


@dataclass(frozen=True)
class Step:
    """The replay of one invocation."""

    index: int
    invocation: Invocation
    status: StepStatus
    outcome: Outcome | None = None
    state_after: Any = None
    micros: int | None = None

    @property
    def matches_recorded(self) -> bool | None:
        """True/False when both a recorded and a replayed outcome exist, else None."""
        if self.invocation.recorded is None or self.outcome is None:
            return None
        return self.invocation.recorded.matches(self.outcome)

    @property
    def reply(self) -> Any:
        """The reply of a handle_call step (``{:reply, R, _}`` / ``{:stop, _, R, _}``), else None."""
        v = self.outcome.value if self.outcome and self.outcome.kind == "return" else None
        if type(v) is tuple and len(v) in (3, 4) and v[0] == Atom("reply"):
            return v[1]
        if type(v) is tuple and len(v) == 4 and v[0] == Atom("stop"):
            return v[2]
        return None


class Verdict(str, enum.Enum):
    REPRODUCED = "reproduced"  # every recorded outcome was matched, up to the last invocation
    DIVERGED = "diverged"  # some step did something else than recorded (see first_divergence)
    UNVERIFIED = "unverified"  # no recorded outcomes were given: the steps are the answer


@dataclass(frozen=True)
class ReplayResult:
    """Every step (including those not run), plus what the scratch process had in its
    mailbox at the end (messages the callbacks sent to ``self()``, replies to ``From``)."""

    module: Atom
    steps: list[Step]
    scratch_messages: list = field(default_factory=list)
    scratch_message_count: int = 0

    @property
    def failure(self) -> Step | None:
        """The step that crashed, timed out or returned a bad value, if any."""
        bad = (StepStatus.CRASHED, StepStatus.TIMED_OUT, StepStatus.BAD_RETURN)
        return next((s for s in self.steps if s.status in bad), None)

    @property
    def first_divergence(self) -> Step | None:
        for s in self.steps:
            if s.invocation.recorded is not None and s.matches_recorded is not True:
                return s
        return None

    @property
    def final_state(self) -> Any:
        ran = [s for s in self.steps if s.status is not StepStatus.NOT_RUN and s.outcome is not None]
        return ran[-1].state_after if ran else None

    @property
    def verdict(self) -> Verdict:
        if not any(s.invocation.recorded is not None for s in self.steps):
            return Verdict.UNVERIFIED
        return Verdict.DIVERGED if self.first_divergence is not None else Verdict.REPRODUCED

    @property
    def reproduced(self) -> bool:
        return self.verdict is Verdict.REPRODUCED

    def describe(self, *, limit: int = 10, width: int = 160) -> str:
        """A short text report (for a person, a CLI or a model): the verdict, then one line per
        step — callback and message, what happened, time, and whether it matched the recording.
        Terms are shown as Elixir's ``inspect`` would, cut at ``width`` characters."""
        from .etf.inspect import inspect

        def show(term: Any) -> str:
            text = " ".join(inspect(term, limit=limit, printable_limit=60).split())
            return text if len(text) <= width else text[: width - 1] + "…"

        mod = self.module.name[7:] if self.module.name.startswith("Elixir.") else self.module.name
        lines = [f"replay of {mod}: {self.verdict.value}"]
        for s in self.steps:
            inv = s.invocation
            head = f"#{s.index} {inv.callback.value}({show(inv.message)})"
            if s.outcome is None:
                lines.append(f"{head} → {s.status.value}")
                continue
            if s.outcome.crashed:
                what = f"raised {s.outcome.error_class.name} {show(s.outcome.reason)}"
            else:
                what = f"{s.status.value}, returned {show(s.outcome.value)}"
            took = f" in {s.micros} µs" if s.micros is not None else ""
            match = {True: " — matches the recording", False: " — DIFFERS from the recording",
                     None: ""}[s.matches_recorded]
            lines.append(f"{head} → {what}{took}{match}")
            if s.matches_recorded is False:
                lines.append(f"    recorded: {show(inv.recorded.value if not inv.recorded.crashed else inv.recorded.reason)}")
        if self.scratch_message_count:
            lines.append(f"scratch mailbox: {self.scratch_message_count} message(s), first: {show(self.scratch_messages[0])}")
        return "\n".join(lines)


# --- term comparison ----------------------------------------------------------------------


def _wildcard(t: Any) -> bool:
    return t is TRUNCATED or t is REDACTED or (
        type(t) is tuple and len(t) == 3 and t[0] is TRUNCATED)


def same_term(a: Any, b: Any) -> bool:
    """Structural equality of two decoded terms, where identities that a replay necessarily
    changes (pids, refs, ports, funs) match any of their own type, and truncated or redacted
    parts of a recorded term match anything."""
    if _wildcard(a) or _wildcard(b):
        return True
    ta, tb = type(a), type(b)
    if ta in (Pid, Ref, Port, Fun):
        return ta is tb
    if isinstance(a, list) and isinstance(b, list):  # list and Charlist compare alike
        if a and a[-1] is TRUNCATED:  # the agent cut the list: compare what it kept
            return len(b) >= len(a) - 1 and all(same_term(x, y) for x, y in zip(a[:-1], b))
        if b and b[-1] is TRUNCATED:
            return same_term(b, a)
        return len(a) == len(b) and all(same_term(x, y) for x, y in zip(a, b))
    if ta is not tb:
        return False
    if ta is tuple:
        return len(a) == len(b) and all(same_term(x, y) for x, y in zip(a, b))
    if ta is dict:
        if TRUNCATED in a or TRUNCATED in b:  # '$truncated' => N: only the kept entries count
            cut, full = (a, b) if TRUNCATED in a else (b, a)
            return all(k in full and same_term(v, full[k]) for k, v in cut.items() if k is not TRUNCATED)
        if len(a) != len(b):
            return False
        if a.keys() == b.keys():
            return all(same_term(v, b[k]) for k, v in a.items())
        # keys holding pids/refs differ by identity: match them up structurally
        rest = list(b.items())
        for k, v in a.items():
            for i, (k2, v2) in enumerate(rest):
                if same_term(k, k2) and same_term(v, v2):
                    del rest[i]
                    break
            else:
                return False
        return True
    if ta is ImproperList:
        return same_term(a.items, b.items) and same_term(a.tail, b.tail)
    if ta is float:
        return a == b
    return a == b


def module_atom(module: str | Atom) -> Atom:
    """``"CorruptedState.Accounts"`` → ``'Elixir.CorruptedState.Accounts'``; an Erlang module
    (``"my_server"``, ``":my_server"``) or an Atom is taken as is."""
    if isinstance(module, Atom):
        return module
    text = str(module).strip()
    if not text:
        raise ReplayInputError("module is empty; give an Elixir module (MyApp.Server) or an Erlang one (my_server)")
    if text.startswith(":"):
        return Atom(text[1:])
    if text[0].isupper() and not text.startswith("Elixir."):
        return Atom("Elixir." + text)
    return Atom(text)
