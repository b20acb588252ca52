"""Reading argument expressions as references: a module, a registered atom, a via-tuple, a
topic string. The analysis resolves what Elixir code writes literally — aliases, `__MODULE__`,
module attributes set to literals, `{:via, Registry, {R, key}}`, local helpers that return a
via-tuple — and says "dynamic" for the rest instead of guessing."""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .syntax import atom_text, operator, string_literal, text


@dataclass(frozen=True, slots=True)
class Ref:
    """kind: module | atom | string | via | local | var | dynamic. For `via`, `value` is the
    registry module and `key` the key's literal (or None when the key is a variable)."""

    kind: str
    value: str = ""
    key: str | None = None


@dataclass(slots=True)
class Scope:
    """What a module body defines that later expressions refer to: aliases and literal
    module attributes. Nested modules see their parents' aliases (Elixir's lexical rule)."""

    name: str
    parent: "Scope | None" = None
    aliases: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Ref] = field(default_factory=dict)

    def resolve(self, alias: str) -> str:
        """The full module name an alias refers to in this scope."""
        if alias == "__MODULE__":
            return self.name
        first, _, rest = alias.partition(".")
        if first == "__MODULE__":
            return f"{self.name}.{rest}" if rest else self.name
        scope: Scope | None = self
        while scope is not None:
            full = scope.aliases.get(first)
            if full is not None:
                return f"{full}.{rest}" if rest else full
            scope = scope.parent
        return alias

    def attribute(self, name: str) -> Ref | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.attributes:
                return scope.attributes[name]
            scope = scope.parent
        return None


def module_name(node: Node, scope: Scope) -> str | None:
    """The module a node names: an alias, `__MODULE__`, `__MODULE__.X` or an Erlang atom."""
    if node.type == "alias":
        return scope.resolve(text(node))
    if node.type == "identifier" and text(node) == "__MODULE__":
        return scope.name
    if node.type == "dot" and text(node).startswith("__MODULE__."):
        return scope.resolve(text(node))
    if node.type == "atom":
        return text(node)
    return None


def ref_of(node: Node | None, scope: Scope) -> Ref:
    if node is None:
        return Ref("dynamic")
    kind = node.type
    if kind == "string":
        lit = string_literal(node)
        return Ref("string", lit) if lit is not None else Ref("dynamic", text(node))
    if kind == "atom":
        return Ref("atom", text(node))
    if kind == "alias" or (kind == "identifier" and text(node) == "__MODULE__"):
        return Ref("module", module_name(node, scope) or text(node))
    if kind == "unary_operator" and operator(node) == "@":
        operand = node.child_by_field_name("operand")
        if operand is not None and operand.type == "identifier":
            found = scope.attribute(text(operand))
            if found is not None:
                return found
        return Ref("dynamic", text(node))
    if kind == "tuple":
        via = via_tuple(node, scope)
        return via if via is not None else Ref("dynamic", text(node))
    if kind == "call":
        target = node.child_by_field_name("target")
        if target is not None and target.type == "identifier":
            return Ref("local", text(target))
        return Ref("dynamic", text(node))
    if kind == "identifier":
        return Ref("var", text(node))
    return Ref("dynamic", text(node))


def via_tuple(node: Node, scope: Scope) -> Ref | None:
    """`{:via, Registry, {Reg, key}}` → Ref("via", "Reg", key-literal-or-None)."""
    items = [c for c in node.named_children if c.type != "comment"]
    if len(items) != 3 or atom_text(items[0]) != ":via":
        return None
    inner = items[2]
    if inner.type != "tuple":
        return Ref("via", text(items[1]), None)
    parts = [c for c in inner.named_children if c.type != "comment"]
    if not parts:
        return None
    registry = module_name(parts[0], scope) or text(parts[0])
    key = None
    if len(parts) > 1:
        k = parts[1]
        key = string_literal(k) or atom_text(k)
    return Ref("via", registry, key)


def literal_ref(node: Node, scope: Scope) -> Ref | None:
    """A module attribute's value when it is a literal worth remembering."""
    ref = ref_of(node, scope)
    return ref if ref.kind in ("string", "atom", "module") else None
