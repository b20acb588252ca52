"""Cyclomatic complexity, nesting depth and size of Elixir functions: the counting rules.

McCabe's number is "independent paths through the code" = 1 + decision points. Elixir
branches by pattern matching more than by `if`, so each rule below says what a decision
point is in Elixir terms. The rules are applied to syntax only (no macro expansion), per
function = all clauses of one name/arity, and each is tested on its own in
tests/test_source_complexity.py. docs/source-analysis.md repeats them for readers.

Complexity of a function (start at 1):

1. Multi-clause functions: +1 for each clause beyond the first (a clause is a `def`/`defp`
   with a body; a bodiless head that only declares defaults is not a clause).
2. Arrow-clause blocks — `case`, `cond`, `receive`, `fn`, a `with`/`try` `else` block, or any
   other `do` block written with `->` clauses: +1 for each clause beyond the first
   (k clauses pick one of k paths: k - 1 decisions). A one-clause `fn` adds nothing.
3. `rescue`, `catch` and `receive ... after` blocks: +1 for EVERY clause (each is a path that
   the main body does not take).
4. `if` and `unless`: +1 each (`else` adds nothing more). `for` comprehensions: +1 each
   (the body may run zero times).
5. `with`: +1 for each `<-` clause (each match can fail and leave the chain). Plain `=`
   bindings inside `with` add nothing.
6. Guards: +1 for each `when` (function heads, `case`/`receive`/`fn` clauses, `defguard`).
7. Boolean operators `&&`, `||`, `and`, `or`: +1 each, wherever they appear, guards
   included — so `when is_integer(x) and x > 0` counts 2 (the `when` and the `and`).
   `not`, `!`, comparison operators and `|>` count nothing.

Everything inside a function counts toward it, including anonymous functions and `quote`
blocks in macros (code in a `quote` inside a `defmacro` counts for the macro; `def`s inside a
`quote` are templates and are not reported as functions of the module that writes them).

Nesting depth of a function: the deepest chain of nested branching constructs — `case`,
`cond`, `if`, `unless`, `with`, `receive`, `try`, `for`, `fn` — in its body. A body without any
is 0; `case` inside `fn` inside `Enum.map` is 2 (the call to `Enum.map` is not a construct).
The depth is the maximum over the function's clauses.

Size: `lines` = sum of the clauses' line spans; `calls` = call expressions in the bodies
(local, remote and macro calls, excluding the `def` itself) — a size measure that ignores
comments, blank lines and long literals.

Module complexity is the sum of its functions' complexities (ModuleInfo.complexity); its
maximum is ModuleInfo.max_complexity.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Constructs that are one nesting level each (rule for nesting depth).
NESTING_CONSTRUCTS = frozenset({"case", "cond", "if", "unless", "with", "receive", "try", "for"})

#: Constructs that add +1 just by appearing (rule 4).
SINGLE_DECISION = frozenset({"if", "unless", "for"})

#: Boolean operators that add +1 each (rule 7).
BOOLEAN_OPERATORS = ("&&", "||", "and", "or")

#: Blocks whose arrow clauses each add +1 (rule 3); other blocks add clauses - 1 (rule 2).
EVERY_CLAUSE_BLOCKS = frozenset({"rescue_block", "catch_block", "after_block"})


def arrow_block_increment(block_type: str, clauses: int) -> int:
    """Decision points of one block of `->` clauses (rules 2 and 3)."""
    if clauses <= 0:
        return 0
    if block_type in EVERY_CLAUSE_BLOCKS:
        return clauses
    return clauses - 1


def construct_increment(keyword: str, with_arrows: int = 0) -> int:
    """Decision points a construct adds by itself (rules 4 and 5); its clauses are counted
    by arrow_block_increment."""
    if keyword in SINGLE_DECISION:
        return 1
    if keyword == "with":
        return with_arrows
    return 0


def clause_increment(clauses: int) -> int:
    """Rule 1: extra clauses of a multi-clause function."""
    return max(0, clauses - 1)


@dataclass(slots=True)
class Tally:
    """Running figures for one function while its file is walked."""

    clauses: int = 0
    decisions: int = 0
    nesting: int = 0
    lines: int = 0
    calls: int = 0
    line: int = 0

    @property
    def complexity(self) -> int:
        return 1 + clause_increment(self.clauses) + self.decisions


def nesting_depths(intervals: list[tuple[int, int, object]]) -> dict[object, int]:
    """Maximum nesting depth per owner from (start_byte, end_byte, owner) intervals of the
    branching constructs. Constructs of one function nest inside its clause, so a single
    stack sweep in document order gives each construct its depth: 1 + the constructs still
    open around it."""
    depth: dict[object, int] = {}
    stack: list[tuple[int, object]] = []  # (end_byte, owner)
    for start, end, owner in sorted(intervals, key=lambda t: (t[0], -t[1])):
        while stack and stack[-1][0] <= start:
            stack.pop()
        level = 1 + sum(1 for _, o in stack if o == owner)
        if level > depth.get(owner, 0):
            depth[owner] = level
        stack.append((end, owner))
    return depth
