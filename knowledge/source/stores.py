"""How the application's functions write and read its keyed stores, as the sources say (tree-sitter).

Three things the recording cannot show, read from the syntax trees the source analysis already
has (``analyze.py`` calls :func:`add_stores` on each file's tree):

- **writers**: per function (``Mod.fun/arity``), whether it writes a keyed store — ``Map.put``,
  ``Map.put_new``, ``Map.merge``, ``Map.update``, ``put_in``, ``:ets.insert`` … — and which of
  its module's own functions it calls (a key normaliser, ``normalize(name)``). A lookup that
  missed a key stored before the recording began cannot name its writer from the trace; the
  writer of the lookup's module that never calls the normaliser the lookup calls can be
  (``agents/evidence/respelled.py``).
- **tables**: ``Map.get(@table, key, @default)`` over a module attribute holding a literal map
  — the keys of the table and the default — per function: a lookup that answered its default
  for a key in another form than every key of the table (``agents/evidence/zeroed.py``).
- **registries**: each ``Registry`` the sources start (``{Registry, keys: :duplicate, name: R}``,
  ``Registry.start_link(keys: …, name: …)``) with its ``keys`` and the function that configures
  it; and the functions that treat a registry as unique — they register in it and handle
  ``{:error, {:already_registered, _}}``, which only a ``:unique`` registry returns, or take its
  lookup's one entry (``[{pid, _}] = Registry.lookup(R, key)``) (``agents/evidence/registries.py``).

Plain dicts, lists and strings (the diagnosis state keeps them). Bounded: at most
:data:`MAX_FUNCTIONS` functions, :data:`MAX_KEYS` keys a table, a syntax depth of :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from tree_sitter import Node, Tree

from .syntax import args_of, do_block, function_head, operator, text

__all__ = ["MAX_FUNCTIONS", "add_stores", "new_stores", "stores_of"]

MAX_FUNCTIONS = 2000
MAX_KEYS = 200
MAX_DEPTH = 80
MAX_REGISTRIES = 50

# calls that write a keyed store, as `Module.function` text (a pipe writes the same way)
WRITES = frozenset({
    "Map.put", "Map.put_new", "Map.merge", "Map.update", "Map.update!", "Map.replace", "Map.replace!",
    "Map.put_new_lazy", "Keyword.put", ":ets.insert", ":ets.insert_new", "put_in", "update_in",
})
_DEFS = frozenset({"def", "defp"})


def new_stores() -> dict:
    return {"functions": {}, "tables": {}, "registries": [], "unique_expected": {}}


def add_stores(out: dict, tree: Tree) -> None:
    """Merge what one parsed file says into ``out`` (from :func:`new_stores`)."""
    _walk(out, tree.root_node, None, {}, 0)


def stores_of(source: str | bytes) -> dict:
    """The same for one source text (tests, editors)."""
    from .parse import Parsed, SourceParser

    data = source.encode() if isinstance(source, str) else source
    parsed = SourceParser().parse(data, "<source>")
    out = new_stores()
    if isinstance(parsed, Parsed):
        add_stores(out, parsed.tree)
    return out


def _ident(call: Node) -> str | None:
    first = call.named_children[0] if call.named_children else None
    return text(first) if first is not None and first.type == "identifier" else None


def _walk(out: dict, node: Node, module: str | None, attrs: dict, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for child in node.named_children:
        if child.type == "call" and _ident(child) == "defmodule":
            args = args_of(child)
            name = text(args[0]) if args and args[0].type == "alias" else None
            body = do_block(child)
            if name and body is not None:
                _walk(out, body, f"{module}.{name}" if module else name, {}, depth + 1)
        elif child.type == "unary_operator" and module is not None and operator(child) == "@":
            _attribute(child, attrs)
        elif child.type == "call" and module is not None and _ident(child) in _DEFS:
            _function(out, child, module, attrs)
        elif child.type in ("do_block", "block"):
            _walk(out, child, module, attrs, depth + 1)


def _attribute(node: Node, attrs: dict) -> None:
    """``@name value``: a literal map (its keys as text) or a number."""
    inner = node.named_children[0] if node.named_children else None
    if inner is None or inner.type != "call":
        return
    name, args = _ident(inner), args_of(inner)
    if not name or len(args) != 1:
        return
    value = args[0]
    if value.type == "map":
        keys = []
        for content in value.named_children:
            for pair in content.named_children if content.type == "map_content" else []:
                if pair.type == "binary_operator" and operator(pair) == "=>":
                    key = pair.named_children[0]
                    if key.type == "string" and len(keys) < MAX_KEYS:
                        keys.append(_string(key))
        if keys:
            attrs[name] = {"keys": [k for k in keys if k is not None]}
    elif value.type in ("integer", "float"):
        attrs[name] = {"number": text(value)}


def _string(node: Node) -> str | None:
    parts = [c for c in node.named_children]
    if any(c.type != "quoted_content" for c in parts):
        return None   # interpolated: not a literal key
    return "".join(text(c) for c in parts)


def _function(out: dict, def_call: Node, module: str, attrs: dict) -> None:
    head = function_head(def_call)
    if head is None:
        return
    key = f"{module}.{head.name}/{head.arity}"
    funs = out["functions"]
    if key not in funs and len(funs) >= MAX_FUNCTIONS:
        return
    info = funs.setdefault(key, {"local": [], "writes": False, "line": def_call.start_point[0] + 1})
    registers: set[str] = set()
    already = False
    stack, seen = [def_call], 0
    while stack and seen < 20_000:
        n = stack.pop()
        seen += 1
        if n.id == head.head.id:
            continue   # the `name(args)` head is no call the function makes
        if n.type == "call":
            _call(out, n, key, module, attrs, info, registers)
        elif n.type == "atom" and text(n) == ":already_registered":
            already = True
        elif n.type == "binary_operator" and operator(n) == "=":
            _one_entry(out, n, key)
        elif n.type == "keywords":
            _registry_config(out, n, key)
        stack.extend(n.named_children)
    if already:
        for reg in registers:
            users = out["unique_expected"].setdefault(reg, [])
            if key not in users:
                users.append(key)


def _dotted(call: Node) -> str | None:
    target = call.named_children[0] if call.named_children else None
    return text(target) if target is not None and target.type == "dot" else None


def _call(out: dict, n: Node, key: str, module: str, attrs: dict, info: dict, registers: set[str]) -> None:
    name = _ident(n)
    if name is not None:
        if name in ("put_in", "update_in"):
            info["writes"] = True
        elif name not in _DEFS and name not in info["local"] and len(info["local"]) < 100:
            info["local"].append(name)
        return
    dotted = _dotted(n)
    if dotted is None:
        return
    if dotted in WRITES:
        info["writes"] = True
    args = args_of(n)
    if dotted == "Registry.register" and args:
        registers.add(text(args[0]))
    elif dotted == "Map.get" and len(args) == 3:
        table, default = _attr_of(args[0], attrs), _attr_of(args[2], attrs)
        literal = text(args[2]) if args[2].type in ("integer", "float") else None
        number = default.get("number") if default else literal
        if table and "keys" in table:
            out["tables"].setdefault(key, []).append(
                {"keys": table["keys"], "default": number, "line": n.start_point[0] + 1})


def _attr_of(node: Node, attrs: dict) -> dict | None:
    if node.type == "unary_operator" and operator(node) == "@":
        operand = node.named_children[0] if node.named_children else None
        if operand is not None and operand.type == "identifier":
            return attrs.get(text(operand))
    return None


def _one_entry(out: dict, match: Node, key: str) -> None:
    """``[{pid, _}] = Registry.lookup(R, k)``: the code takes the lookup's one entry."""
    left, right = match.named_children[0], match.named_children[-1]
    if left.type == "list" and len(left.named_children) == 1 and right.type == "call" \
            and _dotted(right) == "Registry.lookup":
        args = args_of(right)
        if args:
            users = out["unique_expected"].setdefault(text(args[0]), [])
            if key not in users:
                users.append(key)


def _registry_config(out: dict, kw: Node, key: str) -> None:
    """``keys: :duplicate, name: R`` given to ``{Registry, …}`` or ``Registry.start_link/child_spec``."""
    pairs = {}
    for pair in kw.named_children:
        if pair.type == "pair" and len(pair.named_children) == 2:
            k, v = pair.named_children
            pairs[text(k).rstrip(": ").strip()] = v
    if "keys" not in pairs or "name" not in pairs:
        return
    holder = kw.parent
    if holder is not None and holder.type == "list":   # {Registry, [keys: …, name: …]}
        holder = holder.parent
    if holder is not None and holder.type == "arguments":
        holder = holder.parent
    is_registry = holder is not None and (
        (holder.type == "tuple" and holder.named_children and text(holder.named_children[0]) == "Registry")
        or (holder.type == "call" and (_dotted(holder) or "").startswith("Registry.")))
    if not is_registry or len(out["registries"]) >= MAX_REGISTRIES:
        return
    out["registries"].append({"name": text(pairs["name"]), "keys": text(pairs["keys"]).lstrip(":"),
                              "function": key, "line": kw.start_point[0] + 1})
