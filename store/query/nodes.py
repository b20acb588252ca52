"""The syntax tree of a query: small frozen dataclasses, one per construct.

Every node that can be wrong at plan time (a field on the wrong kind of event, a stage that
needs durations) keeps its `start`/`end` offsets so the planner can raise the same
`QuerySyntaxError` with a caret as the parser does.

Term patterns (`P*`) mirror Elixir literals; they are matched against payloads decoded by
`elixir_scope.instrument.etf` (see `terms.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "PWild", "PAtom", "PBin", "PNum", "PPid", "PList", "PTuple", "PMap", "Pattern",
    "PathIndex", "PathKey", "FieldRef", "Compare", "And", "Or", "Not", "Cond",
    "Target", "ProcessSel", "Step", "TimePoint", "TimeWindow",
    "EventsSource", "SequenceSource", "AbsenceSource", "Source",
    "Agg", "CountStage", "RateStage", "StatsStage", "SortStage", "LimitStage", "Stage",
    "Query",
]


# ---------------------------------------------------------------- term patterns

@dataclass(frozen=True, slots=True)
class PWild:
    """`_` or `_name`: matches any term."""


@dataclass(frozen=True, slots=True)
class PAtom:
    """`:ok`, `true`, `nil`, `MyApp.Cart` (the atom `Elixir.MyApp.Cart`)."""
    name: str


@dataclass(frozen=True, slots=True)
class PBin:
    """`"text"`: an Elixir string, i.e. a binary."""
    value: bytes


@dataclass(frozen=True, slots=True)
class PNum:
    value: int | float


@dataclass(frozen=True, slots=True)
class PPid:
    """`<0.123.0>` as printed by the BEAM."""
    text: str


@dataclass(frozen=True, slots=True)
class PList:
    items: tuple["Pattern", ...]
    tail: "Pattern | None" = None  # `[h | t]`; None means the list ends here


@dataclass(frozen=True, slots=True)
class PTuple:
    items: tuple["Pattern", ...]


@dataclass(frozen=True, slots=True)
class PMap:
    """`%{status: :failed}`: matches a map holding at least these keys (as Elixir does)."""
    pairs: tuple[tuple["Pattern", "Pattern"], ...]


Pattern = Union[PWild, PAtom, PBin, PNum, PPid, PList, PTuple, PMap]


# ---------------------------------------------------------------- conditions

@dataclass(frozen=True, slots=True)
class PathIndex:
    """`[2]`: element of a tuple or list (0-based, like `elem/2` and `Enum.at/2`)."""
    index: int


@dataclass(frozen=True, slots=True)
class PathKey:
    """`.count` (atom key) or `["key"]` (any key) into a map."""
    key: Pattern


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field, optionally followed by a path: `state.items[0]`, `arg[1]`, `return`."""
    name: str
    path: tuple[PathIndex | PathKey, ...] = ()
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class Compare:
    """`field op value`; op is one of = != < <= > >= ~ in."""
    field: FieldRef
    op: str
    value: Pattern | tuple[Pattern, ...]
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class And:
    left: "Cond"
    right: "Cond"


@dataclass(frozen=True, slots=True)
class Or:
    left: "Cond"
    right: "Cond"


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Cond"


Cond = Union[Compare, And, Or, Not]


# ---------------------------------------------------------------- selections

@dataclass(frozen=True, slots=True)
class Target:
    """`MyApp.Cart.add/2`, `MyApp.Repo.*`, `:ets.lookup`, `MyApp.Cart`.

    `module` is the Erlang atom name (`Elixir.MyApp.Cart`, `ets`); `module_prefix` means the
    module and every module below it (`MyApp.Repo.*`). None in a slot means "any".
    """
    module: str | None
    module_prefix: bool = False
    function: str | None = None
    arity: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class ProcessSel:
    """`<0.12.0>`, `:my_name`, or `MyApp.Counter` (registered name or initial-call module)."""
    pid: str | None = None
    name: str | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """One event selection: kinds, a function target, a process, a condition."""
    kinds: tuple[str, ...]  # store kind names ('call', 'send', ...); () means every kind
    target: Target | None = None
    process: ProcessSel | None = None
    cond: Cond | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class TimePoint:
    """A moment: `offset_ns` after the recording's first event, or `wall_ns` (Unix epoch)."""
    offset_ns: int | None = None
    wall_ns: int | None = None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    last_ns: int | None = None  # the last N of the recording (before its last event)
    start: TimePoint | None = None
    end: TimePoint | None = None


# ---------------------------------------------------------------- sources

@dataclass(frozen=True, slots=True)
class EventsSource:
    step: Step


@dataclass(frozen=True, slots=True)
class SequenceSource:
    """`sequence A then B [then C] [within D] [same process|node]`."""
    steps: tuple[Step, ...]
    within_ns: int | None = None
    scope: str | None = None  # 'process' | 'node' | None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class AbsenceSource:
    """`A without B [within D] [same process|node]`, `calls without return`, `sends never received`.

    mode: 'return' (the call's own return or exception, by nesting), 'receive' (the message
    itself arriving, by identity), or 'generic' (no matching B event after A).
    """
    step: Step
    missing: Step
    mode: str
    within_ns: int | None = None
    scope: str | None = None
    start: int = 0
    end: int = 0


Source = Union[EventsSource, SequenceSource, AbsenceSource]


# ---------------------------------------------------------------- pipeline stages

@dataclass(frozen=True, slots=True)
class Agg:
    """`count`, `rate`, `p95(duration)`, `avg(duration)` …; `name` is the column name."""
    func: str
    arg: str | None = None
    start: int = 0
    end: int = 0

    @property
    def name(self) -> str:
        return f"{self.func}({self.arg})" if self.arg else self.func


@dataclass(frozen=True, slots=True)
class CountStage:
    by: tuple[str, ...] = ()
    start: int = 0


@dataclass(frozen=True, slots=True)
class RateStage:
    by: tuple[str, ...] = ()
    per_ns: int = 1_000_000_000
    start: int = 0


@dataclass(frozen=True, slots=True)
class StatsStage:
    aggs: tuple[Agg, ...]
    by: tuple[str, ...] = ()
    start: int = 0


@dataclass(frozen=True, slots=True)
class SortStage:
    key: str
    descending: bool = False
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class LimitStage:
    count: int
    start: int = 0


Stage = Union[CountStage, RateStage, StatsStage, SortStage, LimitStage]


@dataclass(frozen=True, slots=True)
class Query:
    source: Source
    window: TimeWindow = field(default_factory=TimeWindow)
    nodes: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    text: str = ""
