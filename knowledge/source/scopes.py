"""Module scopes of one file: the modules it defines (nested ones get their full names) and
what their bodies declare that later expressions are resolved through — aliases (`alias A.B`,
`alias A.B, as: C`, `alias A.{B, C}`), literal module attributes, `use` and `@behaviour`."""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from . import complexity as cx
from .facts import ModuleFacts
from .refs import Scope, literal_ref, module_name
from .syntax import args_of, atom_text, keyword, keyword_pairs, line_of, text


@dataclass(slots=True, eq=False)
class RawFunction:
    name: str
    arity: int
    kind: str
    tally: cx.Tally = field(default_factory=cx.Tally)
    # (name, arity) of the functions of its own module it calls in tail position (tailcalls.py)
    tail_calls: set = field(default_factory=set)


@dataclass(slots=True)
class RawModule:
    facts: ModuleFacts
    scope: Scope
    start: int
    end: int
    functions: dict[tuple[str, int], RawFunction] = field(default_factory=dict)


#: Forms that open a module body.
MODULE_FORMS = frozenset({"defmodule", "defimpl", "defprotocol"})


def build_modules(calls: list[tuple[str, Node]]) -> list[RawModule]:
    quotes = [(n.start_byte, n.end_byte) for kw, n in calls if kw == "quote"]
    defs = sorted((n for kw, n in calls if kw in MODULE_FORMS
                   and not any(s <= n.start_byte < e for s, e in quotes)),  # a quoted module is a template
                  key=lambda n: n.start_byte)
    modules: list[RawModule] = []
    stack: list[RawModule] = []
    for node in defs:
        args = args_of(node)
        if not args:
            continue
        while stack and stack[-1].end <= node.start_byte:
            stack.pop()
        parent = stack[-1] if stack else None
        kind = text(node.child_by_field_name("target") or node)
        written = text(args[0])
        if args[0].type not in ("alias", "dot", "atom") or written.startswith("unquote"):
            continue
        if kind == "defimpl":
            # defimpl Proto, for: Type  →  Proto.Type (inside a module without for: → Proto.Module)
            proto = parent.scope.resolve(written) if parent is not None else written
            target = None
            for extra in args[1:]:
                for key, value in keyword_pairs(extra):
                    if key == "for":
                        target = parent.scope.resolve(text(value)) if parent is not None else text(value)
            if target is None and parent is not None:
                target = parent.facts.name
            name = f"{proto}.{target}" if target else proto
        elif written.startswith("__MODULE__") and parent is not None:
            name = parent.scope.resolve(written)
        elif parent is not None and args[0].type == "alias":
            name = f"{parent.facts.name}.{written}"
            parent.scope.aliases.setdefault(written.split(".")[0], f"{parent.facts.name}.{written.split('.')[0]}")
        else:
            name = written
        scope = Scope(name, parent.scope if parent else None)
        facts = ModuleFacts(name, line_of(node), node.end_point[0] + 1)
        mod = RawModule(facts, scope, node.start_byte, node.end_byte)
        modules.append(mod)
        stack.append(mod)
    return modules


def add_attribute(mod: RawModule, name: str, node: Node) -> None:
    operand = node.child_by_field_name("operand")
    args = args_of(operand) if operand is not None else []
    if not args:
        return
    if name in ("behaviour", "behavior"):
        target = module_name(args[0], mod.scope)
        if target:
            mod.facts.behaviours.append(target)
        return
    ref = literal_ref(args[0], mod.scope)
    if ref is not None:
        mod.scope.attributes.setdefault(name, ref)


def add_alias(mod: RawModule, node: Node) -> None:
    args = args_of(node)
    if not args:
        return
    first = args[0]
    as_node = None
    for extra in args[1:]:
        if extra.type == "keywords":
            for pair in extra.named_children:
                key = pair.child_by_field_name("key")
                if key is not None and text(key).strip().rstrip(":").strip() == "as":
                    as_node = pair.child_by_field_name("value")
    if first.type == "alias":
        full = mod.scope.resolve(text(first))
        short = text(as_node) if as_node is not None else full.split(".")[-1]
        mod.scope.aliases[short] = full
    elif first.type == "dot":  # the multi-alias form: alias MyApp.{Repo, Order}
        left = first.child_by_field_name("left")
        right = first.child_by_field_name("right")
        if left is None or right is None or right.type != "tuple":
            return
        base = module_name(left, mod.scope) or text(left)
        for item in right.named_children:
            if item.type == "alias":
                mod.scope.aliases[text(item).split(".")[-1]] = f"{base}.{text(item)}"


#: the child-spec options `use GenServer/Agent/Task/Supervisor, ...` can set
CHILD_SPEC_KEYS = ("restart", "shutdown", "type")


def add_use(mod: RawModule, node: Node) -> None:
    args = args_of(node)
    if not args:
        return
    target = module_name(args[0], mod.scope)
    if target:
        option = atom_text(args[1]) if len(args) > 1 else None
        mod.facts.uses.append((target, option))
        # `use GenServer, restart: :temporary` - the child spec the module's child_spec/1 gives
        for key in CHILD_SPEC_KEYS:
            value = keyword(args[1:], key)
            shown = atom_text(value) or (text(value) if value is not None and value.type == "integer" else None)
            if shown is not None:
                mod.facts.child_spec[key] = shown.lstrip(":")


def add_import(mod: RawModule, node: Node) -> None:
    args = args_of(node)
    target = module_name(args[0], mod.scope) if args else None
    if target and not target.startswith(":") and target not in mod.facts.imports:
        mod.facts.imports.append(target)
