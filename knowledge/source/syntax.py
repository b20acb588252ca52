"""Small, total helpers over tree-sitter-elixir nodes.

tree-sitter-elixir gives a uniform tree: every macro and function application is a `call`
(target + `arguments` + optional `do_block`), operators are `binary_operator` /
`unary_operator` with `left`/`operator`/`right` fields, `Mod.fun` is a `dot`. The helpers here
turn those shapes into the few values the analysis needs (names, literals, keyword options)
and return None when the code is too dynamic to read statically, never raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

COMMENT = "comment"


def text(node: Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text is not None else ""


def line_of(node: Node) -> int:
    return node.start_point[0] + 1


def args_of(call: Node) -> list[Node]:
    """The positional and keyword argument nodes of a call, comments dropped. A trailing
    keyword list (`name: x, strategy: y`) is one `keywords` node."""
    for child in call.children:
        if child.type == "arguments":
            return [c for c in child.named_children if c.type != COMMENT]
    return []


def arg_count(call: Node) -> int:
    """Arity of a call site; a call on the right of `|>` gets the piped value as well."""
    n = len(args_of(call))
    parent = call.parent
    if parent is not None and parent.type == "binary_operator":
        op = parent.child_by_field_name("operator")
        right = parent.child_by_field_name("right")
        if op is not None and op.type == "|>" and right is not None and right.id == call.id:
            n += 1
    return n


def do_block(call: Node) -> Node | None:
    for child in call.children:
        if child.type == "do_block":
            return child
    return None


def operator(node: Node) -> str:
    op = node.child_by_field_name("operator")
    return op.type if op is not None else ""


def keyword_pairs(node: Node) -> Iterator[tuple[str, Node]]:
    """(key, value) of a `keywords` node or a keyword list literal `[a: 1]`."""
    if node.type == "list":
        for child in node.named_children:
            if child.type == "keywords":
                yield from keyword_pairs(child)
        return
    if node.type != "keywords":
        return
    for pair in node.named_children:
        if pair.type != "pair":
            continue
        key = pair.child_by_field_name("key")
        value = pair.child_by_field_name("value")
        if key is not None and value is not None:
            yield text(key).strip().rstrip(":").strip(), value


def keyword(args: list[Node], key: str) -> Node | None:
    """The value of `key:` in the trailing keyword options of a call, if written literally."""
    for node in reversed(args):
        if node.type in ("keywords", "list"):
            for k, v in keyword_pairs(node):
                if k == key:
                    return v
    return None


def atom_text(node: Node | None) -> str | None:
    """`:name` for an atom literal, None otherwise."""
    if node is not None and node.type == "atom":
        return text(node)
    return None


def string_literal(node: Node | None) -> str | None:
    """A string literal's content, each interpolation replaced by `*` (so `"user:#{id}"`
    becomes `user:*`). None for anything that is not a plain double-quoted string."""
    if node is None or node.type != "string":
        return None
    parts: list[str] = []
    for child in node.named_children:
        if child.type == "quoted_content":
            parts.append(text(child))
        elif child.type == "interpolation":
            parts.append("*")
        elif child.type == "escape_sequence":
            parts.append(text(child))
    return "".join(parts)


def int_literal(node: Node | None) -> int | None:
    if node is None or node.type != "integer":
        return None
    try:
        return int(text(node).replace("_", ""))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class FunctionHead:
    name: str
    arity: int
    defaults: int
    guard: Node | None


def function_head(def_call: Node) -> FunctionHead | None:
    """Name and arity of `def name(args) when guard`. None for heads built with `unquote`
    or other metaprogramming, which the analysis skips rather than guesses."""
    args = args_of(def_call)
    if not args:
        return None
    head = args[0]
    guard = None
    if head.type == "binary_operator" and operator(head) == "when":
        guard = head.child_by_field_name("right")
        head = head.child_by_field_name("left")
        if head is None:
            return None
    if head.type == "identifier":
        return FunctionHead(text(head), 0, 0, guard)
    if head.type == "call":
        target = head.child_by_field_name("target")
        if target is None or target.type != "identifier":
            return None
        params = args_of(head)
        defaults = sum(1 for p in params if p.type == "binary_operator" and operator(p) == "\\\\")
        return FunctionHead(text(target), len(params), defaults, guard)
    return None


def has_body(def_call: Node) -> bool:
    """A bodiless head (`def f(a, b \\\\ 1)`) declares defaults; it is not a clause."""
    if do_block(def_call) is not None:
        return True
    args = args_of(def_call)
    return any(k == "do" for node in args[1:] for k, _ in keyword_pairs(node))
