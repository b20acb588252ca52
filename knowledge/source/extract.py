"""One pass over one file's syntax tree: modules, functions with their complexity, and the
facts (process calls, topics, ETS accesses, static calls) that graph.py joins later.

Speed matters (whole umbrella projects, goal ≥ 50k lines/s), so the tree is not walked node by
node in Python: one tree-sitter query, run in C, returns only the nodes the analysis needs
(calls, operators, arrow clauses, attributes, via-tuples). Each is then attributed to the
innermost module and function clause containing it by byte offset, with a bisect over
nested intervals.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from tree_sitter import Language, Node, Query, QueryCursor, Tree

from . import complexity as cx
from .facts import LOCAL_SPAWNS, FileFacts, FunCall, interpret_remote, literal_call, note_via_helper
from .model import Location
from .refs import module_name
from .scopes import RawFunction, RawModule, add_alias, add_attribute, add_import, add_use, build_modules
from .syntax import arg_count, args_of, function_head, int_literal, line_of, operator, text

QUERY = """
(call target: (identifier) @kw) @call
(call target: (dot left: [(alias) (atom) (identifier)] @mod right: (identifier) @fun)) @rcall
(anonymous_function) @fn
(_ (stab_clause) @clause) @block
(binary_operator operator: ["&&" "||" "and" "or" "when"] @op) @bool
(unary_operator operator: "@" operand: (call target: (identifier) @name)) @attr
(tuple . (atom) @via (#eq? @via ":via")) @viatuple
(unary_operator operator: "&" operand: (binary_operator left: (identifier) @name operator: "/" right: (integer))) @capture
(call (arguments (string))) @litcall
"""
P_CALL, P_RCALL, P_FN, P_BLOCK, P_BOOL, P_ATTR, P_VIA, P_CAPTURE, P_LIT = range(9)

DEF_KINDS = frozenset({"def", "defp", "defmacro", "defmacrop", "defguard", "defguardp", "defdelegate"})
#: Identifier calls that are language forms, not calls to functions of the module.
SPECIAL_FORMS = frozenset({
    "defmodule", "quote", "unquote", "unquote_splicing", "alias", "import", "require", "use", "fn",
    "super", "__MODULE__", "__aliases__", "__block__", "raise", "reraise", "throw", "exit", "send",
    "defstruct", "defexception", "defoverridable", "defimpl", "defprotocol", "binding",
} | DEF_KINDS | cx.NESTING_CONSTRUCTS)


STRUCTURAL = frozenset({"defmodule", "defimpl", "defprotocol", "quote", "alias", "use", "import"} | DEF_KINDS)
NOT_CALLS = SPECIAL_FORMS - cx.NESTING_CONSTRUCTS


def compile_query(language: Language) -> Query:
    return Query(language, QUERY)


@dataclass(slots=True)
class FileResult:
    modules: list[RawModule]
    facts: FileFacts


class _Nested:
    """Innermost-containing lookup over properly nested byte intervals."""

    def __init__(self, items: list[tuple[int, int, object]]) -> None:
        items = sorted(items, key=lambda t: (t[0], -t[1]))
        self.starts = [s for s, _, _ in items]
        self.items = items
        self.parent: list[int] = []
        stack: list[int] = []
        for i, (start, _end, _) in enumerate(items):
            while stack and items[stack[-1]][1] <= start:
                stack.pop()
            self.parent.append(stack[-1] if stack else -1)
            stack.append(i)

    def sweep(self, positions: list[int]) -> list[object | None]:
        """find() for many positions at once, in one merge pass when they are sorted (the
        query returns nodes in document order); falls back to bisect otherwise."""
        items, n = self.items, len(self.items)
        out: list[object | None] = []
        stack: list[tuple[int, int, object]] = []
        j = 0
        last = -1
        for pos in positions:
            if pos < last:
                return [self.find(p) for p in positions]
            last = pos
            while j < n and items[j][0] <= pos:
                item = items[j]
                while stack and stack[-1][1] <= item[0]:
                    stack.pop()
                stack.append(item)
                j += 1
            while stack and stack[-1][1] <= pos:
                stack.pop()
            out.append(stack[-1][2] if stack else None)
        return out

    def find(self, pos: int) -> object | None:
        i = bisect_right(self.starts, pos) - 1
        while i >= 0:
            if self.items[i][1] > pos:
                return self.items[i][2]
            i = self.parent[i]
        return None


@dataclass(slots=True)
class _Clause:
    module: RawModule
    function: RawFunction
    node: Node


def extract(tree: Tree, query: Query, file: str) -> FileResult:
    root = tree.root_node
    matches = QueryCursor(query).matches(root)
    calls: list[tuple[str, Node]] = []
    rcalls: list[tuple[Node, Node, str]] = []
    fns: list[Node] = []
    blocks: dict[int, tuple[Node, int]] = {}
    bools: list[Node] = []
    attrs: list[tuple[str, Node]] = []
    vias: list[Node] = []
    captures: list[tuple[str, Node]] = []
    litcalls: dict[int, Node] = {}
    structural: list[tuple[str, Node]] = []  # defmodule, def*, quote, alias, use: scanned several times
    for index, caps in matches:
        if index == P_CALL:
            kw = caps["kw"][0].text.decode()
            call = caps["call"][0]
            calls.append((kw, call))
            if kw in STRUCTURAL:
                structural.append((kw, call))
        elif index == P_RCALL:
            rcalls.append((caps["rcall"][0], caps["mod"][0], caps["fun"][0].text.decode()))
        elif index == P_FN:
            fns.append(caps["fn"][0])
        elif index == P_BLOCK:
            block = caps["block"][0]
            prev = blocks.get(block.id)
            blocks[block.id] = (block, (prev[1] if prev else 0) + len(caps["clause"]))
        elif index == P_BOOL:
            bools.append(caps["bool"][0])
        elif index == P_ATTR:
            attrs.append((text(caps["name"][0]), caps["attr"][0]))
        elif index == P_VIA:
            vias.append(caps["viatuple"][0])
        elif index == P_CAPTURE:
            captures.append((caps["name"][0].text.decode(), caps["capture"][0]))
        elif index == P_LIT:
            node = caps["litcall"][0]
            litcalls[node.id] = node

    modules = build_modules(structural)
    mod_index = _Nested([(m.start, m.end, m) for m in modules])

    def module_at(node: Node) -> RawModule | None:
        return mod_index.find(node.start_byte)  # type: ignore[return-value]

    quotes = _Nested([(n.start_byte, n.end_byte, n) for kw, n in structural if kw == "quote"])
    clauses: list[tuple[int, int, object]] = []
    heads: set[int] = set()
    for kw, node in structural:
        if kw in DEF_KINDS and quotes.find(node.start_byte) is None:
            mod = module_at(node)
            if mod is not None:
                clause = _add_clause(mod, kw, node, heads)
                if clause is not None:
                    clauses.append((node.start_byte, node.end_byte, clause))
    clause_index = _Nested(clauses)

    def clause_at(node: Node) -> _Clause | None:
        return clause_index.find(node.start_byte)  # type: ignore[return-value]

    # Scopes first (aliases, attributes, uses), since calls are resolved through them.
    def in_quote(node: Node) -> bool:
        return quotes.find(node.start_byte) is not None

    # Code inside `quote` is a template for other modules: its `use`, `@behaviour`, aliases
    # and process calls are not facts about the module that writes the macro.
    for name, node in attrs:
        mod = module_at(node)
        if mod is not None and not in_quote(node):
            add_attribute(mod, name, node)
    for kw, node in structural:
        if kw in ("alias", "use", "import") and not in_quote(node):
            mod = module_at(node)
            if mod is not None:
                {"alias": add_alias, "use": add_use, "import": add_import}[kw](mod, node)

    local_names = {id(m): {name for name, _ in m.functions} for m in modules}
    resolved: dict[tuple[int, str], str] = {}
    out = FileFacts()
    nest: list[tuple[int, int, object]] = []
    owners = clause_index.sweep([node.start_byte for _, node in calls])
    for (kw, node), clause in zip(calls, owners):
        if clause is None or kw in NOT_CALLS or node.id in heads:
            continue
        tally = clause.function.tally  # type: ignore[union-attr]
        if kw in cx.NESTING_CONSTRUCTS:
            arrows = 0
            if kw == "with":
                arrows = sum(1 for a in args_of(node) if a.type == "binary_operator" and operator(a) == "<-")
            tally.decisions += cx.construct_increment(kw, arrows)
            nest.append((node.start_byte, node.end_byte, clause.function))
        elif kw not in SPECIAL_FORMS:
            tally.calls += 1
            if kw in LOCAL_SPAWNS:
                fn = clause.function  # type: ignore[union-attr]
                out.spawns.append(Location(file, line_of(node), clause.module.facts.name,  # type: ignore[union-attr]
                                           f"{fn.name}/{fn.arity}"))
            mod = clause.module  # type: ignore[union-attr]
            if kw in local_names[id(mod)]:
                fn = clause.function  # type: ignore[union-attr]
                out.fun_calls.append(FunCall(mod.facts.name, f"{fn.name}/{fn.arity}", mod.facts.name, kw,
                                             arg_count(node)))
            elif mod.facts.imports:  # maybe from an imported project module; graph.py decides
                fn = clause.function  # type: ignore[union-attr]
                arity = arg_count(node)
                for imported in mod.facts.imports:
                    out.fun_calls.append(FunCall(mod.facts.name, f"{fn.name}/{fn.arity}", imported, kw, arity, True))
    for node in fns:
        clause = clause_at(node)
        if clause is not None:
            nest.append((node.start_byte, node.end_byte, clause.function))
    for block, count in blocks.values():
        clause = clause_at(block)
        if clause is not None:
            clause.function.tally.decisions += cx.arrow_block_increment(block.type, count)
    for clause in clause_index.sweep([node.start_byte for node in bools]):
        if clause is not None:
            clause.function.tally.decisions += 1  # type: ignore[attr-defined]
    for owner, depth in cx.nesting_depths(nest).items():
        tally = owner.tally  # type: ignore[attr-defined]
        tally.nesting = max(tally.nesting, depth)

    rowners = clause_index.sweep([call.start_byte for call, _, _ in rcalls])
    for (call, mod_node, fun), clause in zip(rcalls, rowners):
        mod = clause.module if clause is not None else module_at(call)  # type: ignore[union-attr]
        if mod is None:
            continue
        written = mod_node.text.decode()
        if mod_node.type == "identifier" and written != "__MODULE__":
            continue  # `state.items` — field access, not a call
        target = resolved.get((id(mod), written))
        if target is None:
            target = resolved[(id(mod), written)] = module_name(mod_node, mod.scope) or ""
        if not target:
            continue
        function = f"{clause.function.name}/{clause.function.arity}" if clause else None
        if clause is not None:
            clause.function.tally.calls += 1
            out.fun_calls.append(FunCall(mod.facts.name, function or "", target, fun, arg_count(call)))
        if not in_quote(call):
            interpret_remote(call, target, fun, mod.scope, mod.facts, function, clause.node if clause else None,
                             file, out)
    for name, node in captures:  # `&helper/2` passed to Enum.map & co. is a call of helper/2
        clause = clause_at(node)
        if clause is not None and name in local_names[id(clause.module)]:
            fn = clause.function
            out.fun_calls.append(FunCall(clause.module.facts.name, f"{fn.name}/{fn.arity}",
                                         clause.module.facts.name, name, _capture_arity(node)))
    for node in litcalls.values():
        clause = clause_at(node)
        if clause is None or in_quote(node):
            continue
        target_node = node.child_by_field_name("target")
        if target_node is None:
            continue
        mod = clause.module
        if target_node.type == "identifier":
            name = target_node.text.decode()
            if name in SPECIAL_FORMS:
                continue
            target = mod.facts.name
        elif target_node.type == "dot":
            left = target_node.child_by_field_name("left")
            right = target_node.child_by_field_name("right")
            if left is None or right is None or right.type != "identifier":
                continue
            target = module_name(left, mod.scope) or ""
            name = right.text.decode()
            if not target or target[0] == ":":
                continue
        else:
            continue
        lit = literal_call(node, target, name, mod.facts, f"{clause.function.name}/{clause.function.arity}", file)
        if lit is not None:
            out.literal_calls.append(lit)
    for node in vias:
        clause = clause_at(node)
        if clause is not None:
            note_via_helper(node, clause.module.scope, clause.module.facts, clause.function.name)
    for mod in modules:
        cb = mod.functions.get(("callback_mode", 0))
        if cb is not None:
            mod.facts.state_functions = _returns_state_functions(root, mod)
    return FileResult(modules, out)


def _add_clause(mod: RawModule, kind: str, node: Node, heads: set[int]) -> _Clause | None:
    head = function_head(node)
    if head is None or (kind != "defdelegate" and not head.has_body):
        return None
    heads.add(head.head.id)
    key = (head.name, head.arity)
    fn = mod.functions.get(key)
    if fn is None:
        fn = mod.functions[key] = RawFunction(head.name, head.arity, kind)
        fn.tally.line = line_of(node)
    fn.tally.clauses += 1
    fn.tally.lines += node.end_point[0] - node.start_point[0] + 1
    return _Clause(mod, fn, node)


def _returns_state_functions(root: Node, mod: RawModule) -> bool:
    source = root.text or b""
    body = source[mod.start:mod.end]
    return b":state_functions" in body


def _capture_arity(capture: Node) -> int:
    operand = capture.child_by_field_name("operand")
    right = operand.child_by_field_name("right") if operand is not None else None
    return int_literal(right) or 0
