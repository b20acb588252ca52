"""Finding Elixir files and parsing them one at a time.

Files are discovered lazily (a generator over `os.walk`, excluded directories pruned before
they are entered) and parsed one by one, so a large tree never has more than one syntax tree
in memory. A file whose tree contains ERROR or MISSING nodes is not analyzed: tree-sitter
recovers from syntax errors by guessing, and facts read from a guessed tree would be
fiction. Such a file becomes a ParseProblem with the first error's line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tree_sitter_elixir
from tree_sitter import Language, Node, Parser, Query, Tree

from .errors import SourcePathError
from .extract import compile_query
from .model import ParseProblem

#: What a diagnosis analyzes by default: the application's compiled code. Scripts (`.exs`: tests,
#: `mix.exs`, config) and everything under `test/` do not run in the node being diagnosed; a
#: test module named like the symptom would only mislead the ranking.
DEFAULT_INCLUDE = ("**/*.ex",)
DEFAULT_EXCLUDE = ("deps/**", "_build/**", "**/deps/**", "**/_build/**", "**/node_modules/**", "**/.*/**",
                   "test/**", "**/test/**")
#: With tests and scripts (`include_tests=True`).
TESTS_INCLUDE = ("**/*.ex", "**/*.exs")
TESTS_EXCLUDE = ("deps/**", "_build/**", "**/deps/**", "**/_build/**", "**/node_modules/**", "**/.*/**")


def default_globs(include_tests: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(include, exclude) for a tree: the application's code, or with tests and scripts too."""
    return (TESTS_INCLUDE, TESTS_EXCLUDE) if include_tests else (DEFAULT_INCLUDE, DEFAULT_EXCLUDE)
#: Larger files are almost always generated (fixtures, Unicode tables); they are reported, not parsed.
DEFAULT_MAX_FILE_BYTES = 4_000_000


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `**/` is zero or more directories, `*` and `?` stay inside one
    path segment (unlike fnmatch, where `*` crosses `/`)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class _Globs:
    def __init__(self, patterns: Sequence[str]) -> None:
        if isinstance(patterns, str):
            raise SourcePathError(f"expected a sequence of glob patterns, got the string {patterns!r}; "
                                  f"write ({patterns!r},)")
        self.rx = [glob_regex(p) for p in patterns]

    def match(self, rel: str) -> bool:
        return any(r.match(rel) for r in self.rx)


def discover(root: Path, include: Sequence[str] = DEFAULT_INCLUDE,
             exclude: Sequence[str] = DEFAULT_EXCLUDE) -> Iterator[Path]:
    """Files under `root` matching `include` and not `exclude`, in a stable (sorted) order."""
    inc, exc = _Globs(include), _Globs(exclude)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not exc.match(f"{rel_dir}{d}/\x00"))
        for name in sorted(filenames):
            rel = f"{rel_dir}{name}"
            if inc.match(rel) and not exc.match(rel):
                yield Path(dirpath) / name


@dataclass(slots=True)
class Parsed:
    tree: Tree
    lines: int


@lru_cache(maxsize=1)
def _compiled() -> tuple[Language, Query]:
    """The grammar and the compiled analysis query: immutable, built once per process
    (compiling the query takes ~80 ms)."""
    language = Language(tree_sitter_elixir.language())
    return language, compile_query(language)


class SourceParser:
    """One tree-sitter parser and the compiled analysis query, reused for every file of a run
    (compiling the query costs more than parsing a small file)."""

    def __init__(self) -> None:
        self.language, self.query = _compiled()
        self.parser = Parser(self.language)

    def parse(self, source: bytes, file: str) -> Parsed | ParseProblem:
        tree = self.parser.parse(source)
        lines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
        root = tree.root_node
        if root.has_error:
            return first_error(root, file)
        return Parsed(tree, lines)

    def parse_file(self, path: Path, display: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES
                   ) -> Parsed | ParseProblem:
        try:
            size = path.stat().st_size
            if size > max_bytes:
                return ParseProblem(display, 1, f"skipped: {size} bytes is over the {max_bytes}-byte limit "
                                                f"(raise max_file_bytes to analyze it)")
            source = path.read_bytes()
        except OSError as exc:
            return ParseProblem(display, 1, f"could not read the file: {exc.strerror or exc}")
        return self.parse(source, display)


def first_error(root: Node, file: str) -> ParseProblem:
    """The first ERROR or MISSING node, found by descending only into subtrees with errors."""
    node = root
    if root.type == "ERROR":
        return ParseProblem(file, root.start_point[0] + 1,
                            f"syntax error somewhere in lines {root.start_point[0] + 1}-{root.end_point[0] + 1} "
                            f"(the parser could not narrow it down, often an unclosed bracket or a missing "
                            f"`end`); the file was skipped")
    while True:
        nxt = None
        for child in node.children:
            if child.is_missing:
                return ParseProblem(file, child.start_point[0] + 1,
                                    f"syntax error: missing `{child.type}`; the file was skipped")
            if child.type == "ERROR":
                snippet = (child.text or b"").decode("utf-8", "replace").strip().splitlines()
                near = f" near `{snippet[0][:60]}`" if snippet else ""
                return ParseProblem(file, child.start_point[0] + 1,
                                    f"syntax error at line {child.start_point[0] + 1}{near}; the file was skipped")
            if child.has_error:
                nxt = child
                break
        if nxt is None:
            return ParseProblem(file, node.start_point[0] + 1, "syntax error; the file was skipped")
        node = nxt
