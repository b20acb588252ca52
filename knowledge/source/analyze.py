"""Running the analysis over a file or a whole project tree.

Per file: parse → extract (modules, functions, facts) → turn into ModuleInfo → drop the tree.
Only the small facts stay in memory until every file is seen; then graph.py and flags.py join
them across files (a call in one app resolves to a server in another app of an umbrella).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from . import flags as flagging
from . import graph as graphing
from .errors import SourcePathError
from .extract import FileResult, RawModule, extract
from .facts import FileFacts, ModuleFacts
from .model import FunctionInfo, InteractionGraph, ModuleInfo, ParseProblem, SourceAnalysis
from .otp import callbacks_of, detect_roles
from .parse import DEFAULT_MAX_FILE_BYTES, Parsed, SourceParser, default_globs, discover
from .specs import add_specs
from .stores import add_stores, new_stores
from .tailcalls import tail_loops


class _Collector:
    def __init__(self) -> None:
        self.modules: list[ModuleInfo] = []
        self.module_facts: dict[str, ModuleFacts] = {}
        self.facts = FileFacts()
        self.errors: list[ParseProblem] = []
        self.files = 0
        self.lines = 0
        self.specs: dict[str, list[str]] = {}
        self.stores: dict = new_stores()

    def add(self, parsed: Parsed | ParseProblem, display: str, parser: SourceParser) -> None:
        if isinstance(parsed, ParseProblem):
            self.errors.append(parsed)
            return
        result = extract(parsed.tree, parser.query, display)
        add_specs(self.specs, parsed.tree)   # the @specs from the same tree: one parse per file
        add_stores(self.stores, parsed.tree)  # store writers, literal tables, registries: same tree
        self.files += 1
        self.lines += parsed.lines
        self._merge(result, display)

    def _merge(self, result: FileResult, display: str) -> None:
        for raw in result.modules:
            self.modules.append(_module_info(raw, display))
            self.module_facts.setdefault(raw.facts.name, raw.facts)
        f = self.facts
        f.process_calls.extend(result.facts.process_calls)
        f.registrations.extend(result.facts.registrations)
        f.topics.extend(result.facts.topics)
        f.ets.extend(result.facts.ets)
        f.fun_calls.extend(result.facts.fun_calls)
        f.registries.update(result.facts.registries)
        f.wrappers.extend(result.facts.wrappers)
        f.spawns.extend(result.facts.spawns)
        f.config_reads.extend(result.facts.config_reads)
        f.option_reads.extend(result.facts.option_reads)
        f.env_reads.extend(result.facts.env_reads)
        f.literal_calls.extend(result.facts.literal_calls)

    def finish(self, root: str) -> SourceAnalysis:
        names = graphing.name_table(self.facts, self.module_facts)
        servers = {m.name for m in self.modules if any(r in graphing.SERVER_ROLES for r in m.roles)}
        edges = graphing.build_edges(self.facts, names, servers, self.module_facts)
        fgraph = graphing.FunctionGraph(self.modules, self.facts.fun_calls)
        ets = flagging.resolve_tables(self.facts.ets)
        flags = graphing.cycle_flags(graphing.server_hops(self.modules, edges, fgraph),
                                      graphing.function_lines(self.modules))
        flags += flagging.ets_flags(ets)
        topics = self.facts.topics + flagging.topics_through_wrappers(self.facts.wrappers, self.facts.literal_calls)
        self.facts.literal_calls.clear()
        flags += flagging.topic_flags(topics)
        modules = [dataclasses.replace(m, registered_names=tuple(names.names_of.get(m.name, ())))
                   if m.name in names.names_of else m for m in self.modules]
        graph = InteractionGraph(tuple(edges), tuple(topics), tuple(ets), tuple(fgraph.pairs()),
                                 tuple(self.facts.spawns), tuple(self.facts.config_reads), tuple(self.facts.option_reads),
                                 tuple(self.facts.env_reads))
        return SourceAnalysis(root, tuple(modules), graph, tuple(flags), tuple(self.errors), self.files,
                              self.lines, return_specs=self.specs, stores=self.stores)


def _module_info(raw: RawModule, file: str) -> ModuleInfo:
    loops = tail_loops({(f.name, f.arity): f.tail_calls for f in raw.functions.values()})
    functions = tuple(
        FunctionInfo(f.name, f.arity, f.kind, f.tally.clauses, f.tally.complexity, f.tally.nesting, f.tally.lines,
                     f.tally.line, f.tally.calls, (f.name, f.arity) in loops)
        for f in raw.functions.values())
    facts = raw.facts
    roles = detect_roles(facts)
    return ModuleInfo(facts.name, file, facts.line, facts.end_line, roles,
                      callbacks_of(roles, functions, facts.state_functions), functions,
                      tuple(u for u, _ in facts.uses), facts.supervisor, child_spec=tuple(facts.child_spec.items()))


def analyze_tree(path: str | Path, *, include: Sequence[str] | None = None,
                 exclude: Sequence[str] | None = None, include_tests: bool = False,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> SourceAnalysis:
    """Analyze every Elixir file under `path` (an umbrella root, an app, or `lib/`).

    By default only `.ex` files outside `test/` folders (the code that runs in the node);
    `include_tests=True` adds `.exs` scripts and `test/`. Explicit `include` / `exclude` globs
    replace the defaults. Files are streamed: one syntax tree at a time. Files with syntax
    errors land in `.errors` and are skipped. File names in the result are relative to `path`."""
    default_include, default_exclude = default_globs(include_tests)
    include = default_include if include is None else include
    exclude = default_exclude if exclude is None else exclude
    root = Path(path)
    if not root.exists():
        raise SourcePathError(f"{root} does not exist; pass the project root (the folder with mix.exs) "
                              f"or a folder of .ex files")
    if root.is_file():
        return analyze_file(root)
    parser = SourceParser()
    collector = _Collector()
    for file in discover(root, include, exclude):
        display = file.relative_to(root).as_posix()
        collector.add(parser.parse_file(file, display, max_file_bytes), display, parser)
    return collector.finish(str(root))


def analyze_file(path: str | Path) -> SourceAnalysis:
    """Analyze one file (cross-module flags then only see that file)."""
    file = Path(path)
    if not file.is_file():
        raise SourcePathError(f"{file} is not a file; use analyze_tree for a folder")
    parser = SourceParser()
    collector = _Collector()
    collector.add(parser.parse_file(file, str(file), 1 << 62), str(file), parser)
    return collector.finish(str(file))


def analyze_source(source: str | bytes, file: str = "<source>") -> SourceAnalysis:
    """Analyze Elixir source text (handy in tests, editors and the MCP server)."""
    data = source.encode() if isinstance(source, str) else source
    parser = SourceParser()
    collector = _Collector()
    collector.add(parser.parse(data, file), file, parser)
    return collector.finish(file)
