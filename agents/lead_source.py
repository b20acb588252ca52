"""What the sources say of a function, for the last-resort lead (agents/leads.py): the words of
its body (identifiers, atoms, strings) and whether it computes (arithmetic and comparison
operators, calls into ``Enum``, the calendar or number modules) or only forwards.

Read with tree-sitter (the pitfall index, knowledge/source/pitfalls/index.py) from the files the
source analysis listed, bounded: at most :data:`MAX_FILES` files and :data:`MAX_BYTES` bytes read in
all; a file that cannot be read or parsed is left out (its functions then have no body words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elixir_scope.knowledge.source.vocabulary import tokens

MAX_FILES = 200
MAX_BYTES = 4_000_000
MAX_WORDS = 400            # distinct body words kept per function

#: operators of a computation: arithmetic and comparisons (not `|>`, `=`, `<>`, `++`)
COMPUTING_OPS = frozenset({"+", "-", "*", "/", "<", ">", "<=", ">=", "==", "!=", "===", "!==", "div", "rem"})
#: modules whose calls compute over data (collections, calendars, numbers)
COMPUTING_MODULES = frozenset({"Enum", "Stream", "Date", "Time", "DateTime", "NaiveDateTime", "Calendar",
                               "Float", "Integer", "Decimal", "List", "Map", "String", "math", ":math"})


@dataclass
class Body:
    """One function's body, as the lead reads it."""

    words: set[str] = field(default_factory=set)   # tokens of its identifiers, atoms and strings
    operators: int = 0                             # arithmetic and comparison operators written
    computing_calls: int = 0                       # calls into COMPUTING_MODULES
    calls: int = 0                                 # every call written in it

    @property
    def computes(self) -> bool:
        return self.operators > 0 or self.computing_calls > 0


def _bare(module: str | None) -> str:
    return (module or "").removeprefix("Elixir.")


def read_bodies(source_path: str | None, source_summary: dict | None,
                wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Body]:
    """``(module, "name/arity")`` → :class:`Body`, for the ``wanted`` functions (module names as
    the summary has them, ``MyApp.Cart``), from the files ``source_summary["modules"]`` points at."""
    if not source_path or not source_summary or not wanted:
        return {}
    try:
        from elixir_scope.knowledge.source.model import ParseProblem
        from elixir_scope.knowledge.source.parse import SourceParser
        from elixir_scope.knowledge.source.pitfalls.index import descendants, index_tree
        from elixir_scope.knowledge.source.syntax import operator
    except Exception:   # no tree-sitter: no body words
        return {}
    modules = source_summary.get("modules") or {}
    root = Path(source_path)
    files = []
    for m, _fa in wanted:
        f = (modules.get(m) or {}).get("file")
        if f and f not in files:
            files.append(f)
    parser = SourceParser()
    out: dict[tuple[str, str], Body] = {}
    spent = 0
    for f in files[:MAX_FILES]:
        path = Path(f) if Path(f).is_absolute() else root / f
        if root.is_file():
            path = root
        try:
            size = path.stat().st_size
            if spent + size > MAX_BYTES:
                break
            spent += size
            parsed = parser.parse(path.read_bytes(), str(f))
        except OSError:
            continue
        if isinstance(parsed, ParseProblem):
            continue
        ix = index_tree(parsed.tree.root_node, str(f))
        for mod in ix.modules.values():
            for fn in mod.functions:
                key = (_bare(mod.name), fn.label)
                if key not in wanted:
                    continue
                body = out.setdefault(key, Body())
                for n in descendants(fn.node):
                    if n.type == "binary_operator" and operator(n) in COMPUTING_OPS:
                        body.operators += 1
                    elif n.type in ("identifier", "atom", "quoted_content", "alias") and len(body.words) < MAX_WORDS:
                        body.words.update(tokens(n.text.decode("utf-8", "replace")[:200]))
                for site in ix.by_fn.get(fn, ()):
                    body.calls += 1
                    if _bare(site.module) in COMPUTING_MODULES:
                        body.computing_calls += 1
    return out


__all__ = ["Body", "read_bodies", "COMPUTING_OPS", "COMPUTING_MODULES"]
