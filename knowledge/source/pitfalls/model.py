"""The catalogue's values: a :class:`Pitfall` (what a rule matches, why it is wrong, where that
is documented, how it shows at run time, the fix), what a rule finds (:class:`Found`, still
holding tree nodes) and the tree-free :class:`PitfallHit` the analysis hands out.

A rule is a function of the :class:`Project` (every file's index) registered with :func:`rule`;
the engine knows nothing about any particular rule (the Credo shape: one check, its
explanation, its tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from ..syntax import line_of, text
from .index import CallSite, FileIndex, FnRef

FAMILIES = ("time", "collections", "ets", "processes", "data")


@dataclass(frozen=True, slots=True)
class Found:
    """One match: the offending code `node`, the function the fix goes in (`fn`, or `module`
    for module-level code) and the functions whose running ties it to a recording (`ran`)."""

    file: str
    node: Node
    detail: str
    fn: FnRef | None = None
    module: str | None = None
    ran: tuple[FnRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Pitfall:
    id: str
    family: str
    title: str
    shows: tuple[str, ...]  # how it shows at run time: the symptom claims it fits (agents/hypotheses.CLAIMS)
    cues: str               # words a user reporting its effect tends to use (a regex, case-insensitive)
    matches: str      # what the rule looks for in the syntax tree
    why: str          # why the code is wrong
    symptoms: str     # how it shows at run time, in a user's words (compared with the symptom)
    source: str       # where the pitfall is documented
    fix: str
    check: Callable[["Project"], Iterable[Found]] = field(repr=False, compare=False)
    # the run-time fact (agents/evidence, its kind) that shows this pitfall's effect in a recorded call
    # of the function: when that function ran and no such fact names it, the code ran harmlessly
    shown_by: str | None = None


@dataclass(frozen=True, slots=True)
class PitfallHit:
    """A pitfall found in the sources: the rule, where, and which functions running show it ran."""

    pitfall: str
    family: str
    title: str
    module: str
    function: str | None      # "name/arity" of the function the fix goes in
    file: str
    line: int
    code: str                 # the offending code, one line, bounded
    detail: str
    ran_in: tuple[str, ...]   # "Module.name/arity" whose calls in a recording mean this code ran

    @property
    def spec(self) -> str:
        return f"{self.module}.{self.function}" if self.function else self.module


CATALOGUE: dict[str, Pitfall] = {}


def rule(*, id: str, family: str, shows: tuple[str, ...], cues: str, title: str, matches: str, why: str, symptoms: str, source: str, fix: str,
         shown_by: str | None = None) -> Callable[[Callable[["Project"], Iterable[Found]]], Callable[["Project"], Iterable[Found]]]:
    """Register a rule in the catalogue (ids are unique; the family is one of FAMILIES)."""
    if family not in FAMILIES:
        raise ValueError(f"pitfall {id}: unknown family {family!r}, expected one of {FAMILIES}")

    def register(check: Callable[["Project"], Iterable[Found]]) -> Callable[["Project"], Iterable[Found]]:
        if id in CATALOGUE:
            raise ValueError(f"pitfall {id} is registered twice")
        CATALOGUE[id] = Pitfall(id, family, title, shows, cues, matches, why, symptoms, source, fix, check, shown_by)
        return check

    return register


@dataclass(slots=True)
class Project:
    """Every analysed file's index, with the cross-file questions rules ask."""

    files: list[FileIndex]

    def sites(self, module: str | None, *funs: str) -> Iterator[CallSite]:
        for ix in self.files:
            yield from ix.sites(module, *funs)

    def functions(self, module: str) -> list[FnRef]:
        for ix in self.files:
            mod = ix.modules.get(module)
            if mod is not None:
                return mod.functions
        return []

    def index_of(self, module: str) -> FileIndex | None:
        for ix in self.files:
            if module in ix.modules:
                return ix
        return None


def snippet(node: Node, limit: int = 160) -> str:
    line = " ".join(text(node).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def to_hit(p: Pitfall, f: Found) -> PitfallHit:
    module = f.fn.module if f.fn is not None else (f.module or "")
    ran = [f.fn, *f.ran] if f.fn is not None else list(f.ran)
    seen: list[str] = []
    for r in ran:
        if r is not None and f"{r.module}.{r.label}" not in seen:
            seen.append(f"{r.module}.{r.label}")
    return PitfallHit(p.id, p.family, p.title, module, f.fn.label if f.fn is not None else None, f.file,
                      line_of(f.node), snippet(f.node), f.detail, tuple(seen[:20]))
