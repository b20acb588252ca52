"""One pass over one file's syntax tree: modules, functions with their complexity, and the
facts (process calls, topics, ETS accesses, static calls) that graph.py joins later.

Speed matters (whole umbrella projects, goal ≥ 50k lines/s), so the tree is not walked node by
node in Python: one tree-sitter query, run in C, returns only the nodes the analysis needs
(calls, operators, arrow clauses, attributes, via-tuples, captures, calls with string
arguments). Each is then attributed to the innermost module and function clause containing
it by byte offset (intervals.py). The phases, in order: collect the captures; build module
scopes and function clauses; count complexity; read remote calls as facts; read captures and
string-literal calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Language, Node, Query, QueryCursor, Tree

from . import complexity as cx
from .facts import LOCAL_SPAWNS, FileFacts, FunCall, interpret_remote, literal_call, local_send, note_via_helper
from .intervals import Nested
from .model import Location
from .refs import module_name
from .scopes import RawFunction, RawModule, add_alias, add_attribute, add_import, add_use, build_modules
from .syntax import arg_count, args_of, function_head, int_literal, line_of, operator, text
from .tailcalls import called_name, tail_call_nodes

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
#: Calls scanned several times (scopes, clauses): kept in a short list of their own.
STRUCTURAL = frozenset({"defmodule", "defimpl", "defprotocol", "quote", "alias", "use", "import"} | DEF_KINDS)
NOT_CALLS = SPECIAL_FORMS - cx.NESTING_CONSTRUCTS
SCOPE_FORMS = {"alias": add_alias, "use": add_use, "import": add_import}


def compile_query(language: Language) -> Query:
    return Query(language, QUERY)


@dataclass(slots=True)
class FileResult:
    modules: list[RawModule]
    facts: FileFacts


@dataclass(slots=True)
class _Clause:
    module: RawModule
    function: RawFunction
    node: Node

    @property
    def key(self) -> str:
        return f"{self.function.name}/{self.function.arity}"


@dataclass(slots=True)
class _Captures:
    calls: list[tuple[str, Node]] = field(default_factory=list)
    structural: list[tuple[str, Node]] = field(default_factory=list)
    rcalls: list[tuple[Node, Node, str]] = field(default_factory=list)
    fns: list[Node] = field(default_factory=list)
    blocks: dict[int, tuple[Node, int]] = field(default_factory=dict)
    bools: list[Node] = field(default_factory=list)
    attrs: list[tuple[str, Node]] = field(default_factory=list)
    vias: list[Node] = field(default_factory=list)
    captures: list[tuple[str, Node]] = field(default_factory=list)
    litcalls: dict[int, Node] = field(default_factory=dict)


def _collect(tree: Tree, query: Query) -> _Captures:
    c = _Captures()
    for index, caps in QueryCursor(query).matches(tree.root_node):
        if index == P_CALL:
            kw = caps["kw"][0].text.decode()
            call = caps["call"][0]
            c.calls.append((kw, call))
            if kw in STRUCTURAL:
                c.structural.append((kw, call))
        elif index == P_RCALL:
            c.rcalls.append((caps["rcall"][0], caps["mod"][0], caps["fun"][0].text.decode()))
        elif index == P_FN:
            c.fns.append(caps["fn"][0])
        elif index == P_BLOCK:
            block = caps["block"][0]
            prev = c.blocks.get(block.id)
            c.blocks[block.id] = (block, (prev[1] if prev else 0) + len(caps["clause"]))
        elif index == P_BOOL:
            c.bools.append(caps["bool"][0])
        elif index == P_ATTR:
            c.attrs.append((text(caps["name"][0]), caps["attr"][0]))
        elif index == P_VIA:
            c.vias.append(caps["viatuple"][0])
        elif index == P_CAPTURE:
            c.captures.append((caps["name"][0].text.decode(), caps["capture"][0]))
        elif index == P_LIT:
            node = caps["litcall"][0]
            c.litcalls[node.id] = node
    return c


def extract(tree: Tree, query: Query, file: str) -> FileResult:
    walk = _FileWalk(_collect(tree, query), file)
    walk.complexity()
    walk.remote_calls()
    walk.captures_and_literals()
    walk.gen_statem_mode(tree)
    walk.tail_calls()
    return FileResult(walk.modules, walk.out)


class _FileWalk:
    """The phases after collection, sharing the file's module and clause indexes."""

    def __init__(self, caps: _Captures, file: str) -> None:
        self.c = caps
        self.file = file
        self.out = FileFacts()
        self.modules = build_modules(caps.structural)
        self.mods: Nested[RawModule] = Nested([(m.start, m.end, m) for m in self.modules])
        # Code inside `quote` is a template for other modules: its defs are not functions of
        # this module, and its `use`, `@behaviour`, aliases and process calls are not facts
        # about it.
        self.quotes: Nested[Node] = Nested([(n.start_byte, n.end_byte, n)
                                            for kw, n in caps.structural if kw == "quote"])
        self.heads: set[int] = set()  # `name(args)` head calls: not calls the function makes
        clauses: list[tuple[int, int, _Clause]] = []
        for kw, node in caps.structural:
            if kw in DEF_KINDS and not self.in_quote(node):
                mod = self.mods.find(node.start_byte)
                clause = _add_clause(mod, kw, node, self.heads) if mod is not None else None
                if clause is not None:
                    clauses.append((node.start_byte, node.end_byte, clause))
        self.clauses: Nested[_Clause] = Nested(clauses)
        self.clause_list = [c for _, _, c in clauses]
        # Scopes before calls: calls are resolved through aliases and attributes.
        for name, node in caps.attrs:
            mod = self.mods.find(node.start_byte)
            if mod is not None and not self.in_quote(node):
                add_attribute(mod, name, node)
        for kw, node in caps.structural:
            if kw in SCOPE_FORMS and not self.in_quote(node):
                mod = self.mods.find(node.start_byte)
                if mod is not None:
                    SCOPE_FORMS[kw](mod, node)
        self.local_names = {id(m): {name for name, _ in m.functions} for m in self.modules}

    def in_quote(self, node: Node) -> bool:
        return bool(self.quotes) and self.quotes.find(node.start_byte) is not None

    def clause_at(self, node: Node) -> _Clause | None:
        return self.clauses.find(node.start_byte)

    def complexity(self) -> None:
        """Rules of complexity.py, plus local calls (size, call graph, spawns)."""
        c, out = self.c, self.out
        nest: list[tuple[int, int, object]] = []
        owners = self.clauses.sweep([node.start_byte for _, node in c.calls])
        for (kw, node), clause in zip(c.calls, owners):
            if clause is None or kw in NOT_CALLS or node.id in self.heads:
                if kw == "send" and clause is not None and not self.in_quote(node):
                    local_send(node, clause.module.scope, clause.module.facts, clause.key, self.file, out)
                continue
            tally = clause.function.tally
            if kw in cx.NESTING_CONSTRUCTS:
                arrows = 0
                if kw == "with":
                    arrows = sum(1 for a in args_of(node) if a.type == "binary_operator" and operator(a) == "<-")
                tally.decisions += cx.construct_increment(kw, arrows)
                nest.append((node.start_byte, node.end_byte, clause.function))
                continue
            tally.calls += 1
            mod = clause.module
            if self.in_quote(node):
                continue  # counted for the macro's size; what it calls or spawns belongs to the user of the quote
            if kw in LOCAL_SPAWNS:
                out.spawns.append(Location(self.file, line_of(node), mod.facts.name, clause.key))
            if kw in self.local_names[id(mod)]:
                out.fun_calls.append(FunCall(mod.facts.name, clause.key, mod.facts.name, kw, arg_count(node)))
            elif mod.facts.imports:  # maybe from an imported project module; graph.py decides
                arity = arg_count(node)
                for imported in mod.facts.imports:
                    out.fun_calls.append(FunCall(mod.facts.name, clause.key, imported, kw, arity, True))
        for node in c.fns:
            clause = self.clause_at(node)
            if clause is not None:
                nest.append((node.start_byte, node.end_byte, clause.function))
        for block, count in c.blocks.values():
            clause = self.clause_at(block)
            if clause is not None:
                clause.function.tally.decisions += cx.arrow_block_increment(block.type, count)
        for clause in self.clauses.sweep([node.start_byte for node in c.bools]):
            if clause is not None:
                clause.function.tally.decisions += 1
        for owner, depth in cx.nesting_depths(nest).items():
            tally = owner.tally  # type: ignore[attr-defined]
            tally.nesting = max(tally.nesting, depth)

    def remote_calls(self) -> None:
        """`Mod.fun(...)`: call-graph edges, and facts about processes, topics and tables."""
        resolved: dict[tuple[int, str], str] = {}
        owners = self.clauses.sweep([call.start_byte for call, _, _ in self.c.rcalls])
        for (call, mod_node, fun), clause in zip(self.c.rcalls, owners):
            mod = clause.module if clause is not None else self.mods.find(call.start_byte)
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
            function = clause.key if clause is not None else None
            quoted = self.in_quote(call)
            if clause is not None:
                clause.function.tally.calls += 1
                if not quoted:
                    self.out.fun_calls.append(FunCall(mod.facts.name, clause.key, target, fun, arg_count(call)))
            if not quoted:
                interpret_remote(call, target, fun, mod.scope, mod.facts, function,
                                 clause.node if clause is not None else None, self.file, self.out)

    def captures_and_literals(self) -> None:
        """`&helper/2` captures (a call of helper/2 when passed to Enum & co.), calls with
        string-literal arguments (for topic wrappers), and via-tuple helpers."""
        for name, node in self.c.captures:
            clause = self.clause_at(node)
            if clause is not None and name in self.local_names[id(clause.module)] and not self.in_quote(node):
                self.out.fun_calls.append(FunCall(clause.module.facts.name, clause.key, clause.module.facts.name,
                                                  name, _capture_arity(node)))
        for node in self.c.litcalls.values():
            clause = self.clause_at(node)
            if clause is None or self.in_quote(node):
                continue
            called = _called(node, clause.module)
            if called is not None:
                lit = literal_call(node, called[0], called[1], clause.module.facts, clause.key, self.file)
                if lit is not None:
                    self.out.literal_calls.append(lit)
        for node in self.c.vias:
            clause = self.clause_at(node)
            if clause is not None and not self.in_quote(node):
                note_via_helper(node, clause.module.scope, clause.module.facts, clause.function.name)

    def tail_calls(self) -> None:
        """Each clause's tail calls to functions of its own module (tailcalls.py)."""
        for clause in self.clause_list:
            mod = clause.module
            resolve = lambda node, scope=mod.scope: module_name(node, scope)  # noqa: E731
            for call in tail_call_nodes(clause.node):
                called = called_name(call, mod.facts.name, resolve)
                if called is not None and called[0] not in SPECIAL_FORMS:
                    clause.function.tail_calls.add(called)

    def gen_statem_mode(self, tree: Tree) -> None:
        """gen_statem with `callback_mode` returning :state_functions: its public arity-3
        functions are state callbacks (otp.py)."""
        source: bytes | None = None
        for mod in self.modules:
            if ("callback_mode", 0) in mod.functions:
                source = source if source is not None else (tree.root_node.text or b"")
                mod.facts.state_functions = b":state_functions" in source[mod.start:mod.end]


def _called(node: Node, mod: RawModule) -> tuple[str, str] | None:
    """(module, function name) a call node calls, for local and `Alias.fun` calls."""
    target = node.child_by_field_name("target")
    if target is None:
        return None
    if target.type == "identifier":
        name = target.text.decode() if target.text else ""
        return None if name in SPECIAL_FORMS else (mod.facts.name, name)
    if target.type == "dot":
        left = target.child_by_field_name("left")
        right = target.child_by_field_name("right")
        if left is None or right is None or right.type != "identifier":
            return None
        module = module_name(left, mod.scope) or ""
        if not module or module.startswith(":"):
            return None
        return module, text(right)
    return None


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


def _capture_arity(capture: Node) -> int:
    operand = capture.child_by_field_name("operand")
    right = operand.child_by_field_name("right") if operand is not None else None
    return int_literal(right) or 0
