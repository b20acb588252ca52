"""Calls in tail position, and the functions that loop through them.

Why it matters: a function traced with its returns is never called in tail position on the
BEAM (the runtime keeps a return-trace frame per call), so a function that calls itself in
tail position - the ``loop(state)`` of a hand-written receive loop, ``run(n - 1)`` as the
last expression - grows its process's stack by one frame per round while its returns are
traced. The planner (agents/planner.py) traces such a function's calls only (their arguments
show the state each round); the agent's stack guard catches what the sources did not show
(docs/capture.md).

Tail position, as the compiler sees it (syntax only, no macro expansion):

- the last expression of a clause body (`def f(x) do ... end`, `def f(x), do: ...`), unless the
  body has `rescue`/`catch`/`after`/`else` blocks (an implicit `try`: nothing in it is a tail call);
- inside that expression, the last expression of every branch of `case`, `cond`, `receive`
  (its `after` clauses too), `if`/`unless` (both branches, block or `do:`/`else:` form) and
  `with` (its body and its `else` clauses), and of a parenthesised block;
- the call on the right of a `|>` (it gets the piped value as its first argument).

A function is a *tail loop* when it can reach itself through tail calls of its own module: a
direct self call (`loop(n + 1)`, `__MODULE__.loop(n + 1)`, `MyMod.loop(n + 1)` inside MyMod)
or a cycle (`loop` → `handle` → `loop`, each in tail position). Only Elixir sources are read
(tree-sitter-elixir); Erlang modules are left to the agent's stack guard.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from .syntax import arg_count, operator, text

#: branching forms whose branches' last expressions are in tail position
_BRANCHING = frozenset({"case", "cond", "receive", "if", "unless", "with"})
#: blocks that make a def body an implicit `try`
_TRY_BLOCKS = frozenset({"rescue_block", "catch_block", "after_block", "else_block"})
_COMMENT = "comment"


def tail_call_nodes(def_call: Node) -> Iterator[Node]:
    """The call nodes in tail position in the body of one `def`/`defp` clause."""
    for child in def_call.children:
        if child.type == "do_block":
            if any(c.type in _TRY_BLOCKS for c in child.children):
                return
            yield from _tail_of_block(child.children)
            return
        if child.type == "arguments":
            last = child.named_children[-1] if child.named_child_count else None
            if last is not None and last.type == "keywords":
                value = _keyword_value(last, "do")
                if value is not None:
                    yield from _tail(value)


def _keyword_value(keywords: Node, key: str) -> Node | None:
    for pair in keywords.named_children:
        if pair.type != "pair":
            continue
        k = pair.child_by_field_name("key")
        if k is not None and text(k).strip().rstrip(":").strip() == key:
            return pair.child_by_field_name("value")
    return None


def _last_expr(children: list[Node]) -> Node | None:
    exprs = [c for c in children if c.is_named and c.type != _COMMENT]
    return exprs[-1] if exprs else None


def _tail_of_block(children: list[Node]) -> Iterator[Node]:
    """Tail calls of a `do ... end` block's own expressions or `->` clauses (not its
    else/after blocks: the caller says which of those count)."""
    stabs = [c for c in children if c.type == "stab_clause"]
    if stabs:
        for stab in stabs:
            yield from _tail_of_stab(stab)
        return
    last = _last_expr([c for c in children if not c.type.endswith("_block")])
    if last is not None:
        yield from _tail(last)


def _tail_of_stab(stab: Node) -> Iterator[Node]:
    body = stab.child_by_field_name("right")
    if body is None:
        return
    last = _last_expr(body.children) if body.type == "body" else body
    if last is not None:
        yield from _tail(last)


def _tail(expr: Node) -> Iterator[Node]:
    kind = expr.type
    if kind == "block":
        last = _last_expr(expr.children)
        if last is not None:
            yield from _tail(last)
        return
    if kind == "binary_operator":
        if operator(expr) == "|>":
            right = expr.child_by_field_name("right")
            if right is not None and right.type == "call":
                yield right
        return
    if kind != "call":
        return
    target = expr.child_by_field_name("target")
    if target is not None and target.type == "identifier" and text(target) in _BRANCHING:
        yield from _tail_of_branching(text(target), expr)
        return
    yield expr


def _tail_of_branching(form: str, call: Node) -> Iterator[Node]:
    for child in call.children:
        if child.type == "do_block":
            yield from _tail_of_block(child.children)
            for block in child.children:
                if block.type in ("else_block", "after_block") and form in ("if", "unless", "receive", "with"):
                    yield from _tail_of_block(block.children)
        elif child.type == "arguments" and form in ("if", "unless"):
            last = child.named_children[-1] if child.named_child_count else None
            if last is not None and last.type == "keywords":
                for key in ("do", "else"):
                    value = _keyword_value(last, key)
                    if value is not None:
                        yield from _tail(value)


def called_name(call: Node, own_module: str, resolve) -> tuple[str, int] | None:
    """(name, arity) of a tail call to a function of ``own_module``: a local call, or
    ``__MODULE__.f(...)`` / ``Alias.f(...)`` that ``resolve(left_node)`` names as this module.
    None for anything else."""
    target = call.child_by_field_name("target")
    if target is None:
        return None
    if target.type == "identifier":
        return text(target), arg_count(call)
    if target.type == "dot":
        left = target.child_by_field_name("left")
        right = target.child_by_field_name("right")
        if left is None or right is None or right.type != "identifier":
            return None
        if text(left) == "__MODULE__" or resolve(left) == own_module:
            return text(right), arg_count(call)
    return None


def tail_loops(edges: dict[tuple[str, int], set[tuple[str, int]]]) -> set[tuple[str, int]]:
    """The functions of one module that reach themselves through tail calls (``edges``: each
    function's tail calls to functions of the same module)."""
    loops: set[tuple[str, int]] = set()
    for start in edges:
        seen: set[tuple[str, int]] = set()
        todo = list(edges.get(start, ()))
        while todo:
            fn = todo.pop()
            if fn == start:
                loops.add(start)
                break
            if fn in seen or fn not in edges:
                continue
            seen.add(fn)
            todo.extend(edges[fn])
    return loops
