"""What a function's ``@spec`` says it returns, as value shapes (tree-sitter).

``@spec take(map, String.t()) :: {:ok, pos_integer} | {:error, :full} | nil`` gives
``Mod.take/2 → ["ok/2", "error/2", "nil"]``: the shapes the diagnosis compares a recorded return
with (``agents/evidence/contracts.py``: a value whose shape the spec does not list broke the
function's contract; one it lists is the caller's to handle). A return type the analysis cannot
read as a shape — a user type, a remote type other than ``String.t()``, ``term`` — gives ``any``:
the spec then promises nothing checkable. Several specs of one function are joined.

Bounded: at most :data:`MAX_SPECS` functions, files streamed one syntax tree at a time. The
diagnosis takes them from the source analysis's own parse (``SourceAnalysis.return_specs``,
through :func:`add_specs`), not from a second parse of every file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tree_sitter import Node, Tree

from .parse import Parsed, SourceParser, default_globs, discover
from .syntax import args_of, do_block, operator, text

__all__ = ["MAX_SPECS", "add_specs", "return_specs", "return_specs_of"]

MAX_SPECS = 2000

_NUMBER = {"integer", "float", "number", "non_neg_integer", "pos_integer", "neg_integer", "byte", "char",
           "arity", "timeout"}
_BINARY = {"binary", "bitstring", "nonempty_binary", "iodata", "iolist"}
_LIST = {"list", "nonempty_list", "keyword", "charlist", "maybe_improper_list", "nonempty_charlist"}
_BOOL = {"boolean"}


def add_specs(out: dict[str, list[str]], tree: Tree) -> None:
    """Merge the specs of one parsed file into ``out`` (at most :data:`MAX_SPECS` functions):
    the source analysis (``analyze.py``) calls it on the syntax tree it already has, so the
    diagnosis reads the specs from the one parse of each file."""
    if len(out) < MAX_SPECS:
        _merge(out, _specs(tree.root_node))


def return_specs(root: str | Path, *, include_tests: bool = False) -> dict[str, list[str]]:
    """``Module.fun/arity`` → the return shapes of its specs, over every Elixir file of ``root``
    (on its own; :func:`~.analyze.analyze_tree` gives the same as ``SourceAnalysis.return_specs``
    from the parse it makes anyway)."""
    out: dict[str, list[str]] = {}
    root = Path(root)
    files = [root] if root.is_file() else discover(root, *default_globs(include_tests))
    parser = SourceParser()
    for f in files:
        parsed = parser.parse_file(f, str(f))
        if isinstance(parsed, Parsed):
            _merge(out, _specs(parsed.tree.root_node))
        if len(out) >= MAX_SPECS:
            break
    return out


def return_specs_of(source: str | bytes) -> dict[str, list[str]]:
    """The same for one source text."""
    data = source.encode() if isinstance(source, str) else source
    parsed = SourceParser().parse(data, "<source>")
    out: dict[str, list[str]] = {}
    if isinstance(parsed, Parsed):
        _merge(out, _specs(parsed.tree.root_node))
    return out


def _merge(out: dict[str, list[str]], found: Iterator[tuple[str, list[str]]]) -> None:
    for fn, shapes in found:
        if len(out) >= MAX_SPECS and fn not in out:
            return
        have = out.setdefault(fn, [])
        have.extend(s for s in shapes if s not in have)


def _specs(node: Node, module: str | None = None, depth: int = 0) -> Iterator[tuple[str, list[str]]]:
    """(function, shapes) of every ``@spec`` in ``defmodule`` bodies under ``node``."""
    if depth > 60:
        return
    for child in node.named_children:
        if child.type == "call" and _ident(child) == "defmodule":
            args = args_of(child)
            name = text(args[0]) if args and args[0].type == "alias" else None
            body = do_block(child)
            if name and body is not None:
                yield from _specs(body, f"{module}.{name}" if module else name, depth + 1)
        elif child.type == "unary_operator" and module is not None:
            spec = _spec(child)
            if spec is not None:
                head, ret = spec
                yield f"{module}.{head}", _alternatives(ret)
        elif child.type in ("do_block", "block"):
            yield from _specs(child, module, depth + 1)


def _ident(call: Node) -> str | None:
    first = call.named_children[0] if call.named_children else None
    return text(first) if first is not None and first.type == "identifier" else None


def _spec(attr: Node) -> tuple[str, Node] | None:
    """(``fun/arity``, the return type node) of ``@spec fun(args) :: ret``."""
    inner = attr.named_children[0] if attr.named_children else None
    if inner is None or inner.type != "call" or _ident(inner) != "spec":
        return None
    args = args_of(inner)
    if not args or args[0].type != "binary_operator":
        return None
    typ = args[0]
    if operator(typ) == "when":
        typ = typ.named_children[0]
    if typ.type != "binary_operator" or operator(typ) != "::":
        return None
    head, ret = typ.named_children[0], typ.named_children[-1]
    if head.type == "call" and _ident(head):
        arity = len(args_of(head))
    elif head.type == "identifier":
        arity = 0
    else:
        return None
    return f"{text(head.named_children[0]) if head.type == 'call' else text(head)}/{arity}", ret


def _alternatives(node: Node) -> list[str]:
    """The shapes of a return type: its ``|`` alternatives, each as :func:`_shape` reads it."""
    out: list[str] = []
    stack = [node]
    while stack and len(out) < 40:
        n = stack.pop()
        if n.type == "binary_operator" and operator(n) == "|":
            stack.extend(reversed(n.named_children))
            continue
        s = _shape(n)
        if s not in out:
            out.append(s)
    return out


def _shape(n: Node) -> str:
    """One alternative as a shape of ``contracts.shape``, or ``any``."""
    t = n.type
    if t == "nil":
        return "nil"
    if t == "boolean":
        return "bool"
    if t == "atom":
        return "atom:" + text(n).lstrip(":")
    if t in ("integer", "float"):
        return "number"
    if t == "string":
        return "binary"
    if t == "list":
        return "list"
    if t == "tuple":
        items = n.named_children
        if items and items[0].type == "atom":
            return f"{text(items[0]).lstrip(':')}/{len(items)}"
        return f"tuple/{len(items)}"
    if t == "map":
        struct = next((c for c in n.named_children if c.type == "struct"), None)
        alias = next((c for c in struct.named_children if c.type == "alias"), None) if struct is not None else None
        return f"%{text(alias).rsplit('.', 1)[-1]}{{}}" if alias is not None else "map"
    if t == "binary_operator" and operator(n) == "..":
        return "number"
    name = None
    if t == "identifier":
        name = text(n)
    elif t == "call":
        first = n.named_children[0] if n.named_children else None
        if first is not None and first.type == "identifier":
            name = text(first)
        elif first is not None and first.type == "dot" and text(first) == "String.t":
            return "binary"
    if name in _NUMBER:
        return "number"
    if name in _BINARY:
        return "binary"
    if name in _LIST:
        return "list"
    if name in _BOOL:
        return "bool"
    if name == "map":
        return "map"
    if name == "nil":
        return "nil"
    return "any"
