"""A detector's view of a recording: calls paired with their returns or exceptions,
messages with their sends and receives matched, process lifecycles, state transitions and
the samples the diagnosis took while capturing (mailbox lengths, process counts).

Detectors are pure functions of a :class:`RecordingView`; only
:func:`RecordingView.from_recording` (built in agents/view_build.py) knows the store, so a
detector can be read (and tested on a real recording) without knowing SQL.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.inspect import inspect as _inspect

from .findings import Evidence
from .marks import ResourceSample, SupervisedChild, SupervisorInfo
from .open_calls import OpenCalls


def fmt(term: Any, limit: int = 120) -> str:
    """A term as Elixir prints it, bounded for evidence lines.

    The printer stops once it has printed well past ``limit`` (its ``max_chars`` budget, charged
    per item, is never below what it printed): the text is the same as printing the whole term and
    cutting it, at a cost that does not grow with the term — facts compare and search the states
    and messages of every callback, and a state can hold thousands of entries."""
    text = _inspect(term, max_chars=3 * limit + 64)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mod_name(mod: str) -> str:
    """``Elixir.MyApp.Cart`` → ``MyApp.Cart``; Erlang modules as ``:ets``."""
    if mod.startswith("Elixir."):
        return mod[len("Elixir."):]
    return ":" + mod


@dataclass
class Proc:
    idx: int
    pid: str
    name: str | None
    initial_call: str | None  # "Module.fun/arity" as Elixir shows it
    init_module: str | None = None  # the initial call's module as the node names it ("Elixir.Foo")
    node: str | None = None  # the node it runs on ("app@host"; None when not known)
    app_name: str | None = None  # what the app calls it: label or Registry name ("via {Reg, 42}")

    @property
    def label(self) -> str:
        base = self.name or (f"{self.pid} ({self.initial_call})" if self.initial_call else self.pid)
        return f"{base} [{self.app_name}]" if self.app_name and not self.name else base


@dataclass
class Call:
    """A function call and how it ended (``None`` when it had not ended by the recording's
    end: still running, blocked, or its process died — unless ``broken``).

    ``broken``: the call ended but its end is not in the recording — its return was among the
    events the capture dropped (a later call of the same function, made by the same caller after
    the drop, shows the step had ended), or an outer call of its process returned while it was
    still open. Its ``end_ts`` stays ``None`` and ``end_by`` is a moment by which it had ended:
    how long it ran and where is *unknown*, never evidence of a call that "never returned"."""

    call_id: int
    pid: int
    module: str
    function: str
    arity: int
    ts: int
    args: list
    end_id: int | None = None
    end_ts: int | None = None
    outcome: str | None = None  # "return" | "exception"
    value: Any = None
    depth: int = 0
    parent: "Call | None" = field(default=None, repr=False)
    broken: bool = False
    end_by: int | None = None   # a broken call had ended by then (its end itself was not seen)

    @property
    def open(self) -> bool:
        """Still running when the recording ended, as far as it shows (not ended, not broken)."""
        return self.end_ts is None and not self.broken

    def running_at(self, ts: int) -> bool:
        """Whether it had started by ``ts`` and not ended before (a broken call: ended by its
        ``end_by`` at the latest; an open one runs to the recording's end)."""
        end = self.end_ts if self.end_ts is not None else self.end_by
        return self.ts <= ts and (end is None and not self.broken or end is not None and end >= ts)

    @property
    def mfa(self) -> str:
        return f"{mod_name(self.module)}.{self.function}/{self.arity}"

    def duration(self, unit: int) -> float | None:
        """Duration in milliseconds."""
        if self.end_ts is None:
            return None
        return (self.end_ts - self.ts) * 1000.0 / unit


@dataclass
class Message:
    send_id: int | None
    receive_id: int | None
    sender: int | None
    receiver: int | None
    msg: Any
    send_ts: int | None
    receive_ts: int | None
    to: Any = None


@dataclass
class Exit:
    event_id: int
    pid: int
    ts: int
    reason: Any


@dataclass
class Spawn:
    event_id: int
    parent: int
    child: int
    ts: int
    mfa: Any


@dataclass
class StateStep:
    event_id: int
    pid: int
    ts: int
    phase: str
    callback: str | None
    state: Any


@dataclass
class Sample:
    """What the diagnosis observed from outside while capturing."""

    ts: int
    process_count: int
    queues: dict[int, int]  # process idx → message_queue_len (top processes only)


@dataclass
class Link:
    """A link made or broken (``link``/``unlink`` events and their ``getting_*`` mirrors)."""

    event_id: int
    pid: int
    other: int | None
    ts: int
    made: bool


@dataclass
class DeadSend:
    """A message sent to a process that no longer existed (``send_dead``)."""

    event_id: int
    sender: int
    ts: int
    msg: Any
    to: Any


@dataclass
class Gap:
    ts: int
    count: int
    reason: str
    node: str | None = None   # the node whose agent dropped the events (None: not known)


@dataclass
class RecordingView:
    recording_id: int
    time_unit: int
    start_ts: int
    procs: dict[int, Proc]
    calls: list[Call]
    messages: list[Message]
    exits: list[Exit]
    spawns: list[Spawn]
    states: list[StateStep]
    samples: list[Sample]
    gaps: list[Gap]
    registry_keys: dict[str, set[str]] = field(default_factory=dict)  # live Registry keys, by registry
    links: list[Link] = field(default_factory=list)
    dead_sends: list[DeadSend] = field(default_factory=list)
    rpc_workers: set[int] = field(default_factory=set)   # processes rex started for an rpc (not application spawns)
    resources: list[ResourceSample] = field(default_factory=list)     # periodic resource samples, in time order
    supervisors: dict[str, list[SupervisorInfo]] = field(default_factory=dict)  # "start"/"end" → the app's supervisors
    nodes: dict[int, str] = field(default_factory=dict)   # node id → name, every node of the recording
    node_gone: dict[str, int] = field(default_factory=dict)  # node name → when the recording lost it (view ts)
    earlier_names: dict[str, str] = field(default_factory=dict)  # dead pid text → its name in an earlier recording of the same node run
    node_creation: dict[str, int] = field(default_factory=dict)  # node name → the creation of its recorded run
    # the processes whose receives the capture traced: None when it traced every process's, else
    # those it was asked for that showed a receive (a process not in it may have taken its
    # messages unseen: "never received" is no evidence there)
    receivers_traced: set[int] | None = None

    def receives_traced(self, proc: int) -> bool:
        return self.receivers_traced is None or proc in self.receivers_traced

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def from_recording(rec) -> "RecordingView":
        from .view_build import from_recording

        return from_recording(rec)

    @staticmethod
    def state_changes(before: Any, after: Any) -> list:
        return state_changes(before, after)

    def at_ms(self, ts: int | None) -> float | None:
        return None if ts is None else (ts - self.start_ts) * 1000.0 / self.time_unit

    def proc(self, idx: int | None) -> Proc | None:
        return self.procs.get(idx) if idx is not None else None

    def label(self, idx: int | None) -> str:
        p = self.proc(idx)
        return p.label if p else "?"

    @property
    def multi_node(self) -> bool:
        return len(self.nodes) > 1

    def node_of(self, idx: int | None) -> str | None:
        """The node process ``idx`` runs on (None when the recording cannot tell)."""
        p = self.proc(idx)
        return p.node if p else None

    def evidence(self, event_id: int | None, kind: str, ts: int | None, pid: int | None,
                 summary: str, mfa: str | None = None) -> Evidence:
        p = self.proc(pid)
        return Evidence(event_id=event_id, kind=kind, ts=ts, at_ms=self.at_ms(ts),
                        pid=p.pid if p else None, process=p.label if p else None,
                        mfa=mfa, summary=summary)

    def call_evidence(self, c: Call, summary: str | None = None) -> Evidence:
        return self.evidence(c.call_id, "call", c.ts, c.pid,
                             summary or f"{c.mfa} called with {fmt(c.args)}", c.mfa)

    def end_evidence(self, c: Call, summary: str | None = None) -> Evidence:
        kind = c.outcome or "call"
        return self.evidence(c.end_id, kind, c.end_ts, c.pid,
                             summary or f"{c.mfa} {kind}: {fmt(c.value)}", c.mfa)

    @cached_property
    def calls_by_pid(self) -> dict[int, list[Call]]:
        out: dict[int, list[Call]] = defaultdict(list)
        for c in self.calls:
            out[c.pid].append(c)
        return out

    @cached_property
    def module_of_pid(self) -> dict[int, str]:
        """The module a process runs: from its callbacks (most frequent callback module),
        else its initial call."""
        counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for c in self.calls:
            if c.function.startswith(("handle_", "init")):
                counts[c.pid][c.module] += 1
        out = {pid: max(d, key=d.get) for pid, d in counts.items()}
        for idx, p in self.procs.items():
            if idx not in out and p.init_module:
                out[idx] = p.init_module
        return out

    def state_steps(self, phases: tuple[str, ...] = ("after", "checkpoint")) -> dict[int, list[StateStep]]:
        """Each process's recorded states of the given phases, in time order."""
        out: dict[int, list[StateStep]] = defaultdict(list)
        for s in self.states:
            if s.phase in phases:
                out[s.pid].append(s)
        for steps in out.values():
            steps.sort(key=lambda s: (s.ts, s.event_id))
        return dict(out)

    def open_call_at(self, pid: int, ts: int, *, app_only: bool = True) -> Call | None:
        """The innermost traced call running in ``pid`` at ``ts`` (application code only by
        default: not ``:ets``, ``Registry`` and the like). One bisection per question, on an
        index of the process's calls built at its first question (agents/open_calls.py)."""
        index = self._open_calls.get((pid, app_only))
        if index is None:
            index = self._open_calls[(pid, app_only)] = OpenCalls(
                self.calls_by_pid.get(pid, []), is_app_module if app_only else None)
        return index.at(ts)

    @cached_property
    def _open_calls(self) -> dict[tuple[int, bool], OpenCalls]:
        return {}

    def children(self, c: Call) -> list[Call]:
        """The traced calls made directly inside ``c``, in recorded order."""
        return self._children.get(c.call_id, [])

    @cached_property
    def _children(self) -> dict[int, list[Call]]:
        out: dict[int, list[Call]] = defaultdict(list)
        for c in self.calls:
            if c.parent is not None:
                out[c.parent.call_id].append(c)
        return dict(out)

    def sent_during(self, pid: int, start: int, end: int) -> bool:
        """Whether ``pid`` sent a message (one the recording holds with its send) at a moment
        from ``start`` to ``end``, both included."""
        times = self._send_times.get(pid)
        if not times:
            return False
        i = bisect_left(times, start)
        return i < len(times) and times[i] <= end

    @cached_property
    def _send_times(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for m in self.messages:
            if m.sender is not None and m.send_ts is not None:
                out[m.sender].append(m.send_ts)
        return {pid: sorted(times) for pid, times in out.items()}

    def linked(self, a: int, b: int) -> bool:
        """Whether ``a`` and ``b`` were linked in the recording (a link event, or one spawned
        the other and the child has ``spawned`` with a link), as far as the events show."""
        pair = {a, b}
        for ln in self.links:
            if ln.made and {ln.pid, ln.other} == pair:
                return True
        return False

    def supervisor_of(self, proc: int, phase: str = "start") -> tuple[SupervisorInfo, SupervisedChild] | None:
        """The supervisor (as read at ``phase``) that has process ``proc`` as a child, and
        that child's facts (restart type, shutdown, ...)."""
        for sup in self.supervisors.get(phase, []):
            child = sup.child_of(proc)
            if child is not None:
                return sup, child
        return None

    def dropped_in(self, pid: int | None, t0: int, t1: int | None) -> int:
        """Events the capture dropped on ``pid``'s node from ``t0`` to ``t1`` (to the recording's
        end when ``None``), both included: a count, or -1 when a gap there has no count (a node or
        agent lost: unknown), 0 when none. A duration over such a span may measure several calls."""
        if not self.gaps:
            return 0
        times, gaps = self._gap_times
        node = self.node_of(pid)
        total = 0
        for i in range(bisect_left(times, t0), len(times)):
            g = gaps[i]
            if t1 is not None and g.ts > t1:
                break
            if g.node is None or node is None or g.node == node:
                if g.count <= 0:
                    return -1
                total += g.count
        return total

    @cached_property
    def _gap_times(self) -> tuple[list[int], list[Gap]]:
        gaps = sorted(self.gaps, key=lambda g: g.ts)
        return [g.ts for g in gaps], gaps

    def crosses_gap(self, c: Call) -> bool:
        """Whether events were dropped on ``c``'s node while it ran (or after it started, for a
        call with no end seen): its end, or its span, may not be its own."""
        return bool(self.gaps) and (c.broken or self.dropped_in(c.pid, c.ts, c.end_ts) != 0)

    def gap_notes(self) -> list[str]:
        return [f"{g.count} events dropped ({g.reason}) at +{self.at_ms(g.ts):.0f} ms" for g in self.gaps]


# standard-library modules and the modules under them ("Elixir.Task.Supervised"); an application's
# "Elixir.Tasks" or "Elixir.Processor" is none of them
_LIBRARY_PREFIXES = ("Elixir.Registry", "Elixir.GenServer", "Elixir.Supervisor", "Elixir.Agent",
                     "Elixir.Task", "Elixir.Enum", "Elixir.Enumerable", "Elixir.Map", "Elixir.MapSet",
                     "Elixir.Keyword", "Elixir.String", "Elixir.StringIO", "Elixir.Kernel", "Elixir.Process",
                     "Elixir.DynamicSupervisor", "Elixir.Logger")
_LIBRARY_CHILDREN = tuple(p + "." for p in _LIBRARY_PREFIXES)
# standard-library modules the plan may trace by name (configuration writes, time arithmetic)
_LIBRARY_MODULES = frozenset({"Elixir.Application", "Elixir.DateTime", "Elixir.Date", "Elixir.NaiveDateTime",
                              "Elixir.Calendar", "Elixir.Calendar.ISO"})


_OTP_MODULES = frozenset("""
    erlang ets dets gen gen_server gen_statem gen_event proc_lib supervisor supervisor_bridge lists maps
    timer io io_lib logger logger_server application application_master code rpc erpc sys global pg pg2
    string unicode binary file inet gen_tcp gen_udp ssl crypto queue dict sets orddict ordsets gb_trees
    gb_sets math os re calendar persistent_term atomics counters error_logger net_kernel zlib erl_eval
    mnesia prim_inet prim_file erts_internal init heart user_drv group shell erl_prim_loader
""".split())


def is_app_module(module: str) -> bool:
    """An application module, as far as a recording can tell: not Erlang/OTP (``ets``,
    ``gen_server`` …) and not the Elixir standard library (``Enum``, ``Registry`` …)."""
    if module.startswith("Elixir."):
        return not (module in _LIBRARY_PREFIXES or module.startswith(_LIBRARY_CHILDREN)) \
            and module not in _LIBRARY_MODULES
    return module not in _OTP_MODULES and not module.startswith(("elixir", "Elixir"))


def is_atom(term: Any, name: str) -> bool:
    return isinstance(term, Atom) and term.name == name


_OPS = {"to_nil": "became_nil", "list_grown": "grown", "list_shrunk": "shrunk", "added": "added",
        "removed": "removed", "changed": "changed", "list_changed": "changed", "replaced": "changed"}


def state_changes(before: Any, after: Any) -> list:
    """Structural changes between two states (``store.state_changes``), as report rows."""
    from elixir_scope.store.state_changes import changes

    from .findings import StateChange

    out = []
    for ch in changes(before, after):
        path = "state" + "".join(f"[{fmt(k, 40)}]" for k in ch.path) if ch.path else "state"
        if ch.path and all(isinstance(k, Atom) for k in ch.path):
            path = "state." + ".".join(k.name for k in ch.path)
        out.append(StateChange(path=path, op=_OPS.get(ch.kind, "changed"),
                               before=None if ch.kind == "added" else fmt(ch.old, 80),
                               after=None if ch.kind == "removed" else fmt(ch.new, 80)))
    return out


