"""A catalogue of well-known Elixir/OTP code pitfalls, found on the tree-sitter syntax tree.

Each pitfall (:class:`~.model.Pitfall`) says what it matches, why the code is wrong, how it
shows at run time, where it is documented (the Elixir and Erlang docs, the Elixir anti-patterns
guide, Credo) and the fix. Rules live in one module per family — :mod:`.timing`,
:mod:`.collection`, :mod:`.ets`, :mod:`.processes`, :mod:`.data` — and ask the per-file
:mod:`.index` (calls with their modules resolved through aliases, imports and pipes; module
attributes; local bindings) instead of walking the tree.

    from elixir_scope.knowledge.source.pitfalls import scan_tree, CATALOGUE
    for hit in scan_tree("path/to/app").hits:
        print(hit.pitfall, hit.spec, hit.line, hit.code)

This is static knowledge: the diagnosis (agents/evidence/pitfalls.py) turns a hit into a fact
only when the recording shows the code ran and the pitfall fits the symptom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourcePathError
from ..model import ParseProblem
from ..parse import SourceParser, default_globs, discover
from . import collection, data, ets, processes, timing
from .index import FileIndex, index_tree
from .model import CATALOGUE, FAMILIES, Pitfall, PitfallHit, Project, to_hit

__all__ = ["CATALOGUE", "FAMILIES", "Pitfall", "PitfallHit", "PitfallScan", "scan_source", "scan_tree"]

#: The family modules; importing them registers their rules in CATALOGUE.
FAMILY_MODULES = (timing, collection, ets, processes, data)

#: Bounds: the trees of every file are kept for the cross-file rules.
MAX_FILES = 2_000
MAX_TOTAL_BYTES = 24_000_000


@dataclass(slots=True)
class PitfallScan:
    hits: list[PitfallHit] = field(default_factory=list)
    files: int = 0
    errors: list[ParseProblem] = field(default_factory=list)
    truncated: bool = False     # more files than MAX_FILES / MAX_TOTAL_BYTES: the rest were not scanned


def _run(indexes: list[FileIndex]) -> list[PitfallHit]:
    project = Project(indexes)
    hits: list[PitfallHit] = []
    seen = set()
    for p in CATALOGUE.values():
        for found in p.check(project):
            hit = to_hit(p, found)
            key = (hit.pitfall, hit.file, hit.line)
            if key not in seen:
                seen.add(key)
                hits.append(hit)
    hits.sort(key=lambda h: (h.file, h.line, h.pitfall))
    return hits


def scan_tree(path: str | Path, *, include_tests: bool = False) -> PitfallScan:
    """Every pitfall of the catalogue in the `.ex` files under `path` (the files
    `analyze_tree` reads by default; `include_tests` adds tests and scripts)."""
    root = Path(path)
    if not root.exists():
        raise SourcePathError(f"{root} does not exist; pass the project root (the folder with mix.exs) "
                              f"or a folder of .ex files")
    parser = SourceParser()
    include, exclude = default_globs(include_tests)
    scan = PitfallScan()
    indexes: list[FileIndex] = []
    total = 0
    files = [root] if root.is_file() else discover(root, include, exclude)
    for file in files:
        display = file.name if root.is_file() else file.relative_to(root).as_posix()
        if scan.files >= MAX_FILES or total >= MAX_TOTAL_BYTES:
            scan.truncated = True
            break
        parsed = parser.parse_file(file, display)
        if isinstance(parsed, ParseProblem):
            scan.errors.append(parsed)
            continue
        total += parsed.tree.root_node.end_byte
        scan.files += 1
        indexes.append(index_tree(parsed.tree.root_node, display))
    scan.hits = _run(indexes)
    return scan


def scan_source(source: str | bytes, file: str = "<source>") -> list[PitfallHit]:
    """The pitfalls in one piece of Elixir source (tests, editors)."""
    data_ = source.encode() if isinstance(source, str) else source
    parsed = SourceParser().parse(data_, file)
    if isinstance(parsed, ParseProblem):
        raise SourcePathError(f"{file}: cannot parse line {parsed.line}: {parsed.message}")
    return _run([index_tree(parsed.tree.root_node, file)])
