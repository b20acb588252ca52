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
    """Arity of a call site; a call on the right of `|>` gets the piped value as well.
    (Counts named children in C: a comment inside an argument list would count as one.)"""
    n = -1
    for child in call.children:
        if child.type == "arguments":
            n = child.named_child_count
            break
    parent = call.parent
    if n < 0:
        # `&Mod.fun/2`: a capture names the arity after the slash.
        n = 0
        if parent is not None and parent.type == "binary_operator" and operator(parent) == "/":
            right = parent.child_by_field_name("right")
            if right is not None and right.type == "integer":
                n = int_literal(right) or 0
        return n
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


def literal_value(node: Node | None) -> tuple[object, str] | None:
    """A literal default as (Python value, text): a number, a boolean, nil or a plain string."""
    if node is None:
        return None
    t = text(node)
    if node.type == "integer":
        v = int_literal(node)
        return None if v is None else (v, t)
    if node.type == "float":
        try:
            return float(t.replace("_", "")), t
        except ValueError:
            return None
    if node.type == "boolean":
        return t == "true", t
    if node.type == "nil":
        return None, t
    if node.type == "unary_operator" and t.startswith("-"):
        inner = literal_value(node.named_children[-1] if node.named_children else None)
        if inner is not None and isinstance(inner[0], (int, float)) and not isinstance(inner[0], bool):
            return -inner[0], t
        return None
    lit = string_literal(node)
    if lit is not None and "*" not in lit:
        return lit, t
    return None


@dataclass(frozen=True, slots=True)
class FunctionHead:
    name: str
    arity: int
    guard: Node | None
    has_body: bool
    head: Node  # the `name(args)` call node, which is not a call the function makes


def function_head(def_call: Node) -> FunctionHead | None:
    """Name, arity and guard of `def name(args) when guard ...`, and whether the clause has a
    body (a bodiless head such as `def f(a, b \\\\ 1)` only declares defaults; it is not a
    clause). None for heads built with `unquote` or other metaprogramming, which the analysis
    skips rather than guesses. Hot path (every def of a project): reads children directly."""
    arguments = None
    body = False
    for child in def_call.children:
        kind = child.type
        if kind == "arguments":
            arguments = child
        elif kind == "do_block":
            body = True
    if arguments is None or arguments.named_child_count == 0:
        return None
    head = arguments.named_children[0]
    if not body:
        last = arguments.named_children[-1]
        if last.type == "keywords":
            first_pair = last.named_children[0] if last.named_child_count else None
            key = first_pair.child_by_field_name("key") if first_pair is not None else None
            body = key is not None and (key.text or b"").startswith(b"do:")
    guard = None
    if head.type == "binary_operator" and operator(head) == "when":
        guard = head.child_by_field_name("right")
        head = head.child_by_field_name("left")
        if head is None:
            return None
    if head.type == "identifier":
        return FunctionHead(text(head), 0, guard, body, head)
    if head.type == "call":
        target = head.child_by_field_name("target")
        if target is None or target.type != "identifier":
            return None
        params = 0
        for child in head.children:
            if child.type == "arguments":
                params = child.named_child_count
                break
        return FunctionHead(text(target), params, guard, body, head)
    return None


def param_index(def_call: Node, name: str) -> int | None:
    """Position of the parameter called `name` in a def head (`topic` or `topic \\\\ "x"`)."""
    head = function_head(def_call)
    if head is None or head.head.type != "call":
        return None
    for i, param in enumerate(args_of(head.head)):
        if param.type == "binary_operator" and operator(param) == "\\\\":
            param = param.child_by_field_name("left") or param
        if param.type == "identifier" and text(param) == name:
            return i
    return None
