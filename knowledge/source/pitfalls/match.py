"""Shape tests the rules share: is an expression a float, is a value thrown away, which field
does a key function read, which options does a call pass."""

from __future__ import annotations

import re

from tree_sitter import Node

from ..syntax import args_of, keyword_pairs, operator, text
from .index import CallSite, FileIndex, remote_calls

TIME_CALLS = frozenset({("System", "system_time"), ("System", "os_time"), ("System", "monotonic_time"),
                        (":os", "system_time"), (":os", "timestamp"), (":erlang", "now"), (":erlang", "system_time"),
                        (":erlang", "monotonic_time"), (":os", "perf_counter"), ("DateTime", "utc_now"),
                        ("NaiveDateTime", "utc_now"), (":erlang", "timestamp"), ("Time", "utc_now"),
                        ("DateTime", "now!"), (":calendar", "local_time"), (":calendar", "universal_time")})
COMPARE = frozenset({"<", ">", "<=", ">=", "==", "!=", "===", "!=="})


def floaty(ix: FileIndex, site: CallSite, node: Node | None, depth: int = 0) -> bool:
    """True when `node` evaluates to a float by construction (`/`, a float literal, `:math`)."""
    if node is None or depth > 6:
        return False
    kind = node.type
    if kind == "float":
        return True
    if kind == "block" and node.named_child_count == 1:
        return floaty(ix, site, node.named_children[0], depth + 1)
    if kind == "binary_operator":
        op = operator(node)
        if op == "/":
            return True
        if op in ("+", "-", "*"):
            return (floaty(ix, site, node.child_by_field_name("left"), depth + 1)
                    or floaty(ix, site, node.child_by_field_name("right"), depth + 1))
        return False
    if kind == "call":
        target = node.child_by_field_name("target")
        if target is None:
            return False
        if target.type == "identifier":
            return False   # round/trunc/div/… give integers; a local function's type is unknown
        if target.type == "dot":
            left = target.child_by_field_name("left")
            mod = text(left) if left is not None else ""
            fun = text(target.child_by_field_name("right") or target)
            if mod == ":math":
                return True
            if mod == "Float" and fun in ("round", "ceil", "floor", "pow", "parse"):
                return fun != "parse"
            if mod == "String" and fun == "to_float":
                return True
        return False
    if kind in ("identifier", "unary_operator"):
        resolved = ix.resolve(site, node)
        if resolved is not None and resolved.id != node.id:
            return floaty(ix, site, resolved, depth + 1)
    return False


def statement_dropped(expr: Node) -> bool:
    """The value of `expr` is thrown away: a statement followed by another one in its block, or
    matched to `_` / `_name`."""
    parent = expr.parent
    if parent is None:
        return False
    if parent.type == "binary_operator" and operator(parent) == "=":
        left = parent.child_by_field_name("left")
        right = parent.child_by_field_name("right")
        return (right is not None and right.id == expr.id and left is not None and left.type == "identifier"
                and text(left).startswith("_"))
    if parent.type in ("do_block", "body", "block", "else_block", "after_block", "rescue_block"):
        siblings = [c for c in parent.named_children if c.type != "comment"]
        return bool(siblings) and siblings[-1].id != expr.id
    return False


def pipeline_top(node: Node) -> Node:
    """The outermost `|>` chain `node` is the last step of (or `node` itself)."""
    cur = node
    while cur.parent is not None and cur.parent.type == "binary_operator" and operator(cur.parent) == "|>":
        right = cur.parent.child_by_field_name("right")
        if right is None or right.id != cur.id:
            break
        cur = cur.parent
    return cur


def key_field(fun: Node | None) -> str | None:
    """The field a key function returns, when it returns exactly one field: `& &1.version`,
    `&(&1.version)`, `fn r -> r.version end`, `& &1[:version]`, `&Map.get(&1, :version)`.
    A key built of several values (`&{&1.at, &1.id}`) is None."""
    if fun is None:
        return None
    body = None
    if fun.type == "unary_operator" and operator(fun) == "&":
        body = fun.child_by_field_name("operand")
    elif fun.type == "anonymous_function":
        clauses = [c for c in fun.named_children if c.type == "stab_clause"]
        if len(clauses) == 1:
            b = clauses[0].child_by_field_name("right")
            stmts = [c for c in b.named_children if c.type != "comment"] if b is not None else []
            body = stmts[0] if len(stmts) == 1 else None
    while body is not None and body.type == "block" and body.named_child_count == 1:
        body = body.named_children[0]
    if body is None:
        return None
    if body.type == "call":
        target = body.child_by_field_name("target")
        if target is not None and target.type == "dot" and not args_of(body) and not text(body).endswith(")"):
            right = target.child_by_field_name("right")
            return text(right) if right is not None and right.type == "identifier" else None
        if target is not None and target.type == "dot" and text(target.child_by_field_name("left") or body) == "Map":
            args = args_of(body)
            if len(args) >= 2 and args[1].type == "atom":
                return text(args[1]).lstrip(":")
    if body.type == "access_call":
        key = body.child_by_field_name("key")
        if key is not None and key.type == "atom":
            return text(key).lstrip(":")
    return None


def option(site: CallSite, key: str) -> Node | None:
    for node in reversed(site.args):
        if node.type in ("keywords", "list"):
            for k, v in keyword_pairs(node):
                if k == key:
                    return v
    return None


def atom_in_list(node: Node | None, atom: str) -> bool:
    """`:atom` appears as an element of a literal list (`[:global]`, `[:set, :public]`)."""
    if node is None or node.type != "list":
        return False
    return any(c.type == "atom" and text(c) == atom for c in node.named_children)


def contains_time_call(node: Node | None) -> bool:
    if node is None:
        return False
    return any((m, f) in TIME_CALLS for m, f, _ in remote_calls(node))


def name_matches(node: Node | None, rx: re.Pattern[str]) -> bool:
    """An identifier, `@attribute`, `s.field` or `defaults()` whose name matches `rx`."""
    if node is None:
        return False
    if node.type == "identifier":
        return bool(rx.search(text(node)))
    if node.type == "unary_operator" and operator(node) == "@":
        operand = node.child_by_field_name("operand")
        return operand is not None and bool(rx.search(text(operand).split("(")[0]))
    if node.type == "call":
        target = node.child_by_field_name("target")
        if target is not None and target.type == "dot" and not args_of(node):
            right = target.child_by_field_name("right")
            return right is not None and bool(rx.search(text(right)))
        if target is not None and target.type == "identifier" and not args_of(node):
            return bool(rx.search(text(target)))
    return False


def inside(node: Node, ancestor_types: tuple[str, ...], stop: Node | None = None) -> Node | None:
    cur = node.parent
    while cur is not None and (stop is None or cur.id != stop.id):
        if cur.type in ancestor_types:
            return cur
        cur = cur.parent
    return None


def enclosing_calls(node: Node, stop: Node | None = None) -> list[Node]:
    out = []
    cur = node.parent
    while cur is not None and (stop is None or cur.id != stop.id):
        if cur.type == "call":
            out.append(cur)
        cur = cur.parent
    return out


def call_name(call: Node) -> tuple[str | None, str]:
    target = call.child_by_field_name("target")
    if target is None:
        return None, ""
    if target.type == "identifier":
        return None, text(target)
    if target.type == "dot":
        left = target.child_by_field_name("left")
        right = target.child_by_field_name("right")
        return (text(left) if left is not None else None), (text(right) if right is not None else "")
    return None, ""
