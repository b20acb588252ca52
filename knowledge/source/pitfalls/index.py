"""One file's syntax tree read for the pitfall rules: every call with its module resolved
(aliases, imports, `__MODULE__`, a piped first argument put back in place), the function and
module around it, module attributes, and the local bindings of each function.

The rules in the family modules ask this index questions ("the calls to `Keyword.merge`",
"what was `delay` bound to before this line") instead of walking the tree themselves, so a
rule is a few lines and knows nothing of tree-sitter's node shapes beyond `syntax.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from ..syntax import COMMENT, args_of, function_head, line_of, operator, text

DEFS = frozenset({"def", "defp"})
#: Node kinds the walker files by kind, so that rules never walk a tree again.
KEPT = frozenset({"map", "tuple", "bitstring", "stab_clause", "binary_operator", "list"})


@dataclass(frozen=True, slots=True)
class FnRef:
    """A function clause of the project: `module`, `name`/`arity`, where it starts."""

    module: str
    name: str
    arity: int
    line: int
    node: Node = field(compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.arity}"


@dataclass(slots=True)
class CallSite:
    """`module.fun(args)` (module None for a local or imported-unknown call). `args` has the
    piped value first when the call is the right side of `|>`."""

    module: str | None
    fun: str
    args: list[Node]
    node: Node
    owner: str | None
    fn: FnRef | None
    piped: bool
    file: str = ""

    @property
    def key(self) -> tuple[str | None, str]:
        return self.module, self.fun

    @property
    def line(self) -> int:
        return line_of(self.node)

    @property
    def expr(self) -> Node:
        """The whole expression this call's value is: the `|>` around it when piped."""
        parent = self.node.parent
        if self.piped and parent is not None:
            return parent
        return self.node


@dataclass(slots=True)
class ModuleIndex:
    name: str
    line: int
    node: Node
    attributes: dict[str, Node] = field(default_factory=dict)     # @name value (module level)
    functions: list[FnRef] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FileIndex:
    file: str
    modules: dict[str, ModuleIndex] = field(default_factory=dict)
    calls: list[CallSite] = field(default_factory=list)
    by_key: dict[tuple[str | None, str], list[CallSite]] = field(default_factory=lambda: defaultdict(list))
    by_fn: dict[FnRef, list[CallSite]] = field(default_factory=lambda: defaultdict(list))
    attr_uses: dict[tuple[str, str], list[FnRef]] = field(default_factory=lambda: defaultdict(list))
    kept: dict[str, list[tuple[Node, str | None, FnRef | None]]] = field(default_factory=lambda: defaultdict(list))
    _binds: dict[FnRef, dict[str, list[tuple[int, Node]]]] = field(default_factory=dict)

    def sites(self, module: str | None, *funs: str) -> Iterator[CallSite]:
        for f in funs:
            yield from self.by_key.get((module, f), ())

    def nodes(self, kind: str, *, module: str | None = None, fn: FnRef | None = None) -> Iterator[Node]:
        """The nodes of one kind (see KEPT) written in `module` / in `fn`, in source order."""
        for node, owner, in_fn in self.kept.get(kind, ()):
            if (module is None or owner == module) and (fn is None or in_fn == fn):
                yield node

    def calls_of(self, module: str | None) -> list[CallSite]:
        """Every call written in `module` (in any of its functions, or at module level)."""
        return [s for s in self.calls if s.owner == module]

    def module(self, name: str | None) -> ModuleIndex | None:
        return self.modules.get(name) if name else None

    def attribute(self, site_or_owner: CallSite | str | None, node: Node | None) -> Node | None:
        """The literal value of `@name` when `node` is a module-attribute read."""
        owner = site_or_owner.owner if isinstance(site_or_owner, CallSite) else site_or_owner
        name = attr_name(node)
        mod = self.module(owner)
        return mod.attributes.get(name) if name and mod else None

    def binding(self, fn: FnRef | None, name: str, before: int) -> Node | None:
        """The expression `name` was last bound to (`name = expr`) in `fn` before byte `before`."""
        if fn is None:
            return None
        binds = self._binds.get(fn)
        if binds is None:
            binds = self._binds[fn] = _bindings(fn.node)
        best = None
        for start, expr in binds.get(name, ()):
            if start < before:
                best = expr
        return best

    def resolve(self, site: CallSite, node: Node | None, depth: int = 0) -> Node | None:
        """Follow a variable or module attribute to the expression it stands for (two hops)."""
        if node is None or depth > 2:
            return node
        if node.type == "identifier":
            bound = self.binding(site.fn, text(node), node.start_byte)
            return self.resolve(site, bound, depth + 1) if bound is not None else node
        value = self.attribute(site, node)
        if value is not None:
            return self.resolve(site, value, depth + 1)
        return node


def attr_name(node: Node | None) -> str | None:
    """`name` for `@name` (a module attribute read), else None."""
    if node is None or node.type != "unary_operator" or operator(node) != "@":
        return None
    operand = node.child_by_field_name("operand")
    if operand is not None and operand.type == "identifier":
        return text(operand)
    return None


def descendants(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


def remote_calls(node: Node) -> Iterator[tuple[str, str, Node]]:
    """(module text, fun, call) of every `Mod.fun(...)` written inside `node` (unresolved)."""
    for n in descendants(node):
        if n.type == "call":
            target = n.child_by_field_name("target")
            if target is not None and target.type == "dot":
                left = target.child_by_field_name("left")
                right = target.child_by_field_name("right")
                if left is not None and right is not None:
                    yield text(left), text(right), n


def _bindings(def_call: Node) -> dict[str, list[tuple[int, Node]]]:
    out: dict[str, list[tuple[int, Node]]] = defaultdict(list)
    for n in descendants(def_call):
        if n.type == "binary_operator" and operator(n) == "=":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier":
                out[text(left)].append((n.end_byte, right))
    return out


def _module_name(node: Node, aliases: dict[str, str], owner: str | None) -> str | None:
    if node.type == "alias":
        written = text(node)
        head, _, rest = written.partition(".")
        full = aliases.get(head)
        return (full + ("." + rest if rest else "")) if full else written
    if node.type == "atom":
        return text(node)
    if node.type == "identifier" and text(node) == "__MODULE__":
        return owner
    if node.type == "call" and text(node) == "__MODULE__":
        return owner
    return None


def _alias_target(args: list[Node], aliases: dict[str, str]) -> None:
    if not args or args[0].type != "alias":
        return
    full = text(args[0])
    as_name = None
    for a in args[1:]:
        if a.type == "keywords":
            for pair in a.named_children:
                key = pair.child_by_field_name("key")
                value = pair.child_by_field_name("value")
                if key is not None and value is not None and text(key).startswith("as:") and value.type == "alias":
                    as_name = text(value)
    aliases[as_name or full.rsplit(".", 1)[-1]] = full


class _Walker:
    def __init__(self, ix: FileIndex) -> None:
        self.ix = ix

    def run(self, root: Node) -> None:
        # (node, module index, function)
        stack: list[tuple[Node, ModuleIndex | None, FnRef | None]] = [(root, None, None)]
        while stack:
            node, mod, fn = stack.pop()
            kind = node.type
            if kind == COMMENT:
                continue
            if kind in KEPT:
                self.ix.kept[kind].append((node, mod.name if mod else None, fn))
            if kind == "call":
                mod, fn, skip = self._call(node, mod, fn)
                if skip:
                    continue
            elif kind == "unary_operator" and mod is not None:
                name = attr_name(node)
                if name is not None and fn is not None:
                    self.ix.attr_uses[(mod.name, name)].append(fn)
                elif fn is None and operator(node) == "@":
                    operand = node.child_by_field_name("operand")
                    if operand is not None and operand.type == "call":
                        target = operand.child_by_field_name("target")
                        vals = args_of(operand)
                        if target is not None and target.type == "identifier" and len(vals) == 1:
                            mod.attributes[text(target)] = vals[0]
            for child in reversed(node.named_children):
                if child.named_child_count:   # leaves (names, atoms, numbers) hold nothing a rule reads
                    stack.append((child, mod, fn))

    def _call(self, node: Node, mod: ModuleIndex | None, fn: FnRef | None
              ) -> tuple[ModuleIndex | None, FnRef | None, bool]:
        target = node.child_by_field_name("target")
        if target is None:
            return mod, fn, False
        if target.type == "identifier":
            word = text(target)
            if word == "defmodule":
                args = args_of(node)
                if args and args[0].type == "alias":
                    name = text(args[0])
                    if mod is not None and "." not in name:
                        name = f"{mod.name}.{name}"
                    elif mod is not None:
                        name = f"{mod.name}.{name}"
                    new = self.ix.modules.setdefault(name, ModuleIndex(name, line_of(node), node))
                    if mod is not None:
                        new.aliases.update(mod.aliases)
                        new.aliases[text(args[0]).split(".")[0]] = name
                    return new, None, False
                return mod, fn, False
            if word == "quote":
                return mod, fn, True   # templates: not code of this module
            if mod is not None and fn is None:
                if word in DEFS:
                    head = function_head(node)
                    if head is not None and head.has_body:
                        ref = FnRef(mod.name, head.name, head.arity, line_of(node), node)
                        mod.functions.append(ref)
                        return mod, ref, False
                    return mod, fn, True
                if word in ("defmacro", "defmacrop", "defguard", "defguardp"):
                    return mod, fn, True
                if word == "alias":
                    _alias_target(args_of(node), mod.aliases)
                    return mod, fn, True
                if word in ("import", "use"):
                    args = args_of(node)
                    if args:
                        name = _module_name(args[0], mod.aliases, mod.name)
                        if name:
                            (mod.imports if word == "import" else mod.uses).append(name)
                    return mod, fn, word == "import"
            self._site(None, word, node, mod, fn)
            return mod, fn, False
        if target.type == "dot":
            left = target.child_by_field_name("left")
            right = target.child_by_field_name("right")
            if left is not None and right is not None and right.type == "identifier":
                name = _module_name(left, mod.aliases if mod else {}, mod.name if mod else None)
                if name is not None:
                    self._site(name, text(right), node, mod, fn)
        return mod, fn, False

    def _site(self, module: str | None, fun: str, node: Node, mod: ModuleIndex | None, fn: FnRef | None) -> None:
        args = args_of(node)
        parent = node.parent
        piped = False
        if parent is not None and parent.type == "binary_operator" and operator(parent) == "|>":
            right = parent.child_by_field_name("right")
            left = parent.child_by_field_name("left")
            if right is not None and right.id == node.id and left is not None:
                args = [left, *args]
                piped = True
        site = CallSite(module, fun, args, node, mod.name if mod else None, fn, piped, self.ix.file)
        self.ix.calls.append(site)
        self.ix.by_key[site.key].append(site)
        if fn is not None:
            self.ix.by_fn[fn].append(site)


def index_tree(root: Node, file: str) -> FileIndex:
    ix = FileIndex(file)
    _Walker(ix).run(root)
    # bare calls to an imported module's functions resolve to that module (the rules ask for
    # `Keyword.merge` whether it was written `Keyword.merge(...)` or `merge(...)` after `import Keyword`)
    for key in [k for k in ix.by_key if k[0] is None]:
        for site in list(ix.by_key[key]):
            mod = ix.modules.get(site.owner or "")
            if mod is None or not mod.imports:
                continue
            if site.fn is not None and any(site.fun == f.name for f in mod.functions):
                continue
            for imported in mod.imports:
                site_copy = CallSite(imported, site.fun, site.args, site.node, site.owner, site.fn, site.piped, site.file)
                ix.by_key[site_copy.key].append(site_copy)
    return ix
