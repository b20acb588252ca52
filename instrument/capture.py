"""What a capture records: the plan (specs, processes, state modules) and its result.

The session that runs it is ``instrument/session.py``; the limits are ``instrument/limits.py``;
the agent on the node is ``instrument/agent/elixir_scope_agent.erl``.

::

    plan = CapturePlan(
        specs=(compile_spec("MyApp.Cart.add(item, price) when price > 100 :: return"),),
        message_procs=(Registered("MyApp.Cart"),),     # or a Pid, RunningModule("Elixir.MyApp.Cart"),
                                                        # or Labelled("cart 42")
        lifecycle_procs="all",
        state_modules=("Elixir.MyApp.Cart",), checkpoint_ms=1000,
    )
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .etf import Atom, Pid
from .names import UnknownNameError, literal_term, name_term  # noqa: F401  (raised by CaptureSession.start)
from .specs import TraceSpec, compile_spec

# Names typed by a user or a model never travel as atoms (each would be created on the
# target): they go as binaries (instrument/names.py) and the agent resolves them.


@dataclass(frozen=True)
class Registered:
    """A process by its registered name (Elixir module names keep their ``Elixir.`` prefix)."""

    name: str


@dataclass(frozen=True)
class RunningModule:
    """Every process (at capture start) whose initial call, or the function it is in now, is
    in this module."""

    module: str


@dataclass(frozen=True)
class Labelled:
    """Every process (at capture start) with this process label (``proc_lib:set_label/1`` on
    OTP 27+, the ``'$process_label'`` dictionary key): a string label, or the label as
    printed (``~0tp``) when it is another term."""

    label: str


ProcTarget = Pid | Registered | RunningModule | Labelled
ProcSelection = Literal["all", "new", "existing"] | tuple[ProcTarget, ...]

END_REASONS = ("stopped", "max_events", "max_seconds", "max_rate", "overload_queue",
               "overload_memory", "owner_down", "node_down", "store_error", "agent_down",
               "deadline", "tracer_lost", "error")


class CaptureError(Exception):
    """A capture that could not start or run (bad plan, tracer conflict, agent error)."""


class TracerBusyError(CaptureError):
    """OTP < 27 and another tracer (dbg, recon, redbug) is active on the node."""


def _target(t: ProcTarget) -> object:
    if isinstance(t, Pid):
        return t
    if isinstance(t, Registered):
        return name_term(t.name)
    if isinstance(t, RunningModule):
        return (Atom("module"), t.module.encode("utf-8"))
    if isinstance(t, Labelled):
        return (Atom("label"), t.label.encode("utf-8"))
    raise CaptureError("a process target is a Pid, Registered(name), RunningModule(module) or "
                       f"Labelled(label), got {t!r}")


_MS_VAR = re.compile(r"\$\d+\Z")


#: every atom of a literal (match-spec head or quoted constant) as a name term
_literals = literal_term


def _head(term: Any) -> Any:
    """A match-spec head: `'_'` and `'$N'` stay, every other atom is a literal."""
    if isinstance(term, Atom):
        return term if term.name == "_" or _MS_VAR.match(term.name) else name_term(term.name)
    if isinstance(term, tuple):
        return tuple(_head(x) for x in term)
    if isinstance(term, list):
        return [_head(x) for x in term]
    if isinstance(term, dict):
        return {_head(k): _head(v) for k, v in term.items()}
    return term


_CONST = Atom("const")


def _guard(term: Any) -> Any:
    """A match-spec guard: `{Op, Args...}` keeps its operator, `{const, X}` quotes a literal,
    `'$N'` is a variable, any other atom is a literal."""
    if isinstance(term, Atom):
        return term if _MS_VAR.match(term.name) else name_term(term.name)
    if isinstance(term, tuple) and term:
        if term[0] == _CONST and len(term) == 2:
            return (_CONST, _literals(term[1]))
        return (term[0], *(_guard(x) for x in term[1:]))
    return term


def _pattern(spec: TraceSpec) -> tuple:
    """The spec's trace pattern with module, function and literal atoms as name terms."""
    (m, f, a), ms, flags = spec.pattern()
    module = m if m == Atom("_") else name_term(spec.module)
    mfa = (module, f if f == Atom("_") else name_term(spec.function or ""), a)
    return (mfa, [(_head(h), [_guard(g) for g in gs], body) for h, gs, body in ms], flags)


def _selection(sel: ProcSelection) -> object:
    if isinstance(sel, str):
        if sel not in ("all", "new", "existing"):
            raise CaptureError(f"process selection {sel!r}: use 'all', 'new', 'existing' or a tuple of targets")
        return Atom(sel)
    return [_target(t) for t in sel]


@dataclass(frozen=True)
class CapturePlan:
    """What to capture. Empty by default: name at least one kind."""

    # Function calls (with returns/exceptions when the spec says `return`).
    specs: tuple[TraceSpec, ...] = ()
    # Whose calls are traced.
    call_procs: ProcSelection = "all"
    # Processes whose sent and received messages are captured.
    message_procs: ProcSelection = ()
    # Processes whose lifecycle (spawn, exit, link, register ...) is captured.
    lifecycle_procs: ProcSelection = ()
    # GenServer / gen_statem modules whose state history is recorded (callbacks traced).
    state_modules: tuple[str, ...] = ()
    # Periodic sys:get_state checkpoints of those modules' processes (0: once, at the start).
    checkpoint_ms: int = 0
    # Allow a tracer conflict on OTP < 27 (dangerous specs are forced at compile_spec time).
    force: bool = False
    # A module, function or registered name the node does not know: an UnknownNameError
    # (True), or skipped and listed in the session's ``unknown_names`` (False).
    strict_names: bool = True

    @classmethod
    def from_strings(cls, specs: list[str], *, force: bool = False, **kw) -> CapturePlan:
        """Compile spec strings (raises ``SpecError`` naming the bad one)."""
        return cls(specs=tuple(compile_spec(s, force=force) for s in specs), force=force, **kw)

    def is_empty(self) -> bool:
        return not (self.specs or self.message_procs or self.lifecycle_procs or self.state_modules)

    def returns_note(self) -> str | None:
        """A warning for the reply to a request whose specs trace return values: a
        self-tail-recursive function among them (a receive loop) would keep one stack frame
        per traced call; the agent's stack guard takes its return tracing off when its
        process's stack keeps growing (docs/capture.md). None when no spec traces returns."""
        named = [s.source for s in self.specs if s.returns]
        if not named:
            return None
        which = ", ".join(repr(n) for n in named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        return (f"{which} trace return values: if one of these functions is a self-tail-recursive loop "
                "(a receive loop calling itself last), each traced call keeps a stack frame on its "
                "process; the agent then removes that function's return tracing (its calls stay traced) "
                "and the capture reports a `stack_guard` gap. Trace such a loop without `:: return` "
                "(its arguments show the state each round), or trace the functions it calls.")

    def agent_config(self) -> dict:
        if self.is_empty():
            raise CaptureError("the capture plan is empty: give specs, message_procs, "
                               "lifecycle_procs or state_modules")
        if self.checkpoint_ms < 0:
            raise CaptureError("checkpoint_ms must be >= 0")
        return {
            Atom("patterns"): [_pattern(s) for s in self.specs],
            Atom("call_procs"): _selection(self.call_procs),
            Atom("message_procs"): _selection(self.message_procs),
            Atom("lifecycle_procs"): _selection(self.lifecycle_procs),
            Atom("state_modules"): [name_term(m) for m in self.state_modules],
            Atom("checkpoint_ms"): int(self.checkpoint_ms),
            Atom("force"): bool(self.force),
            Atom("strict_names"): bool(self.strict_names),
        }

    def describe(self) -> dict:
        """The plan as plain JSON values (stored with the recording; no Python reprs)."""
        return {"specs": [s.source for s in self.specs], "call_procs": _procs_text(self.call_procs),
                "message_procs": _procs_text(self.message_procs),
                "lifecycle_procs": _procs_text(self.lifecycle_procs),
                "state_modules": list(self.state_modules), "checkpoint_ms": self.checkpoint_ms}


def _procs_text(sel: Any) -> str | list[str]:
    """``"all"`` / ``["registered Elixir.Shop.Cart", "running Elixir.Shop.Inventory", "<0.1.0>"]``."""
    if isinstance(sel, str):
        return sel
    out = []
    for p in sel:
        if isinstance(p, Registered):
            out.append(f"registered {p.name}")
        elif isinstance(p, RunningModule):
            out.append(f"running {p.module}")
        else:
            out.append(str(p))
    return out


@dataclass(frozen=True)
class CaptureStats:
    """Counts at the end. Invariant: offered == sent + dropped, and stored == sent."""

    offered: int = 0
    sent: int = 0
    dropped: int = 0
    stored: int = 0
    over_limit: int = 0
    batches: int = 0
    peak_queue: int = 0
    peak_memory: int = 0
    queue_sheds: int = 0
    # `receive ... after` timeouts seen (the runtime reports them as receiving `timeout`):
    # not messages, so not stored as receive records.
    receive_timeouts: int = 0
    # trace messages the agent could not turn into a record (counted in `agent_error` gaps)
    agent_errors: int = 0

    @property
    def consistent(self) -> bool:
        return self.offered == self.sent + self.dropped and self.stored == self.sent


@dataclass(frozen=True)
class CaptureResult:
    recording_id: int
    node: str
    end_reason: str
    stats: CaptureStats
    detail: str = ""
    extra: dict = field(default_factory=dict)
