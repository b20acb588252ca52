"""Throughput of the Elixir source analysis (parse + analysis) in lines per second.

There is no large Elixir source tree on this machine (the Debian `elixir` package ships only
.beam files under /usr/lib/elixir), so the tree is GENERATED: the umbrella fixture of the
tests (tests/fixtures/elixir_umbrella, minus its deliberately broken file) is replicated N
times with every module and topic renamed per copy, and each generated file concatenates 8
fixture files (~180 lines per file, close to a typical Phoenix project's file size).

Baselines, measured in the same run on the same files:
  1. read + tree-sitter parse only (the floor: no analysis can be faster than parsing);
  2. read + parse + the analysis query run in C (what remains is Python-side attribution).
The full analysis (analyze_tree: discovery, parse, extraction, roles, cross-file graph,
flags) is then reported with its overhead over the parse-only baseline.

    .venv/bin/python benchmarks/bench_source.py [--copies 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tree_sitter import QueryCursor

from elixir_scope.knowledge.source import analyze_tree
from elixir_scope.knowledge.source.parse import SourceParser, discover
from elixir_scope.knowledge.source.pitfalls import scan_tree

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "elixir_umbrella"
PER_FILE = 8


def generate(dest: Path, copies: int) -> tuple[int, int]:
    sources = [p for p in sorted(FIXTURE.rglob("*.ex"))
               if p.name != "broken.ex" and "deps" not in p.relative_to(FIXTURE).parts]
    texts = [p.read_text() for p in sources]
    files = lines = 0
    for copy in range(copies):
        renamed = [re.sub(r"\b(ShopWeb|Shop|Notify)(?=[.\s,{}])", lambda m: f"{m.group(1)}{copy}", t)
                   .replace('"order:', f'"order{copy}:') for t in texts]
        app = dest / f"apps/app{copy}/lib"
        app.mkdir(parents=True)
        for i in range(0, len(renamed), PER_FILE):
            body = "\n".join(renamed[i:i + PER_FILE])
            (app / f"part{i // PER_FILE}.ex").write_text(body)
            files += 1
            lines += body.count("\n") + (0 if body.endswith("\n") else 1)
    return files, lines


def timed(fn, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each run. The machine is shared: wall time includes
    waiting for a core, CPU time (this process only) is the work the analysis itself costs."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="es-bench-src-") as tmp:
        root = Path(tmp)
        files, lines = generate(root, args.copies)
        print(f"generated tree: {files} files, {lines} lines "
              f"({args.copies} renamed copies of the umbrella fixture, {PER_FILE} fixture files per file)")
        parser = SourceParser()

        def parse_only() -> None:
            for f in discover(root):
                parser.parser.parse(f.read_bytes())

        def parse_and_query() -> None:
            for f in discover(root):
                tree = parser.parser.parse(f.read_bytes())
                QueryCursor(parser.query).matches(tree.root_node)

        result = None

        def full() -> None:
            nonlocal result
            result = analyze_tree(root)

        scan = None

        def pitfalls() -> None:
            nonlocal scan
            scan = scan_tree(root)

        rows = [("baseline: read + parse", timed(parse_only, args.repeat)),
                ("baseline: read + parse + query (C)", timed(parse_and_query, args.repeat)),
                ("analyze_tree (full analysis)", timed(full, args.repeat)),
                ("scan_tree (pitfall catalogue)", timed(pitfalls, args.repeat))]
        assert scan is not None and not scan.truncated and not scan.errors
        assert result is not None and result.lines == lines and not result.errors
        print(f"{'stage':36} {'wall best':>9} {'wall med':>9} {'lines/s wall':>13} {'cpu best':>9} "
              f"{'lines/s cpu':>12}")
        for name, (wall, cpu) in rows:
            print(f"{name:36} {min(wall):9.3f} {statistics.median(wall):9.3f} {lines / min(wall):13,.0f} "
                  f"{min(cpu):9.3f} {lines / min(cpu):12,.0f}")
        (pw, pc), (fw, fc) = rows[0][1], rows[2][1]
        print(f"analysis overhead over parse alone: {min(fw) / min(pw):.2f}x wall, {min(fc) / min(pc):.2f}x cpu")
        print(f"full analysis: {lines / min(fw):,.0f} lines/s wall-clock, {lines / min(fc):,.0f} lines/s per "
              f"CPU second (goal >= 50,000); load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        sw, sc = rows[3][1]
        print(f"pitfall scan (separate pass, diagnosis only): {lines / min(sw):,.0f} lines/s wall-clock, "
              f"{lines / min(sc):,.0f} lines/s per CPU second, {min(sc) / min(pc):.2f}x the parse; "
              f"{len(scan.hits)} hits")
        print(f"found: {len(result.modules)} modules, {len(result.graph.edges)} call edges, "
              f"{len(result.graph.topics)} topic uses, {len(result.flags)} flags")
    return 0


if __name__ == "__main__":
    sys.exit(main())
