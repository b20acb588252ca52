"""Dev apps with fixed twins (tests/fixtures/<set>/<app>/scenario.json: ``files``, ``start``,
``trigger``, ``symptom``, ``check`` — an Elixir expression true once the bug showed —, ``fix`` —
a ``from``/``to`` replacement in the sources that removes it —, ``culprit`` and ``fact``), run
end to end: the app on its own node, one diagnosis, and the two checks every such set makes —
the buggy app names its culprit through its fact, the fixed twin gives no root cause and no
such fact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore

from .nodes import REPO, start_node
from .reports import assert_evidence_exists


class DevApps:
    """The apps of one fixture set: ``DevApps("config_apps").names`` for ``parametrize``."""

    def __init__(self, folder: str) -> None:
        self.root = REPO / "tests" / "fixtures" / folder
        self.names = sorted(p.parent.name for p in self.root.glob("*/scenario.json"))

    def scenario(self, name: str) -> dict:
        return json.loads((self.root / name / "scenario.json").read_text())

    async def diagnose(self, name: str, tmp_path: Path, kb_index_dir: Path, *, fixed: bool,
                       max_rounds: int | None = None) -> tuple[dict, Any, TraceStore, Any]:
        """Start the app (its twin when ``fixed``) and diagnose its symptom with its trigger:
        (scenario, report, store — open, the caller closes it —, the ``check``'s value after).
        ``max_rounds``: the rounds at most (a twin: 1; the buggy app: the diagnosis's default)."""
        sc = self.scenario(name)
        files = []
        for f in sc["files"]:
            src = (self.root / name / f).read_text()
            if fixed:
                assert sc["fix"]["from"] in src, "the scenario's fix must apply to its sources"
                src = src.replace(sc["fix"]["from"], sc["fix"]["to"])
            (tmp_path / f).write_text(src)
            files.append(tmp_path / f)
        node = start_node("elixir", elixir_files=files, eval_code="{:ok, _} = " + sc["start"])
        dist = Node()
        try:
            conn = await dist.connect(node.name, cookie=node.cookie)
            store = TraceStore.open(tmp_path / "diag.db")
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
            report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                                   seconds=1.5, source_path=str(tmp_path),
                                                   # a twin must stay silent in the round the plan makes
                                                   # (later rounds only narrow a found problem down)
                                                   **({"max_rounds": max_rounds or 1} if fixed or max_rounds
                                                      else {})), ctx)
            shown = await conn.rpc("Elixir.Code", "eval_string", [sc["check"].encode()], timeout=10)
        finally:
            await dist.close()
            node.stop()
        return sc, report, store, shown[0]

    async def assert_named(self, name: str, tmp_path: Path, kb_index_dir: Path, extra=None,
                           max_rounds: int | None = None) -> None:
        """The buggy app: the bug showed, the root cause is the scenario's culprit, a fact of the
        scenario's kind names it, and every event the report cites exists. ``extra(sc, report,
        store)``: the app's own checks on the same report; ``max_rounds`` as :meth:`diagnose`."""
        sc, report, store, shown = await self.diagnose(name, tmp_path, kb_index_dir, fixed=False, max_rounds=max_rounds)
        try:
            assert shown is True, name   # the trigger the diagnosis ran really showed the bug
            assert report.verdict == "root_cause_found", render_markdown(report)
            c = report.root_cause.culprit
            assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), render_markdown(report)
            assert [f for f in report.findings if f.detector == sc["fact"]
                    and (f.culprit.module, f.culprit.function) == (c.module, c.function)], render_markdown(report)
            assert assert_evidence_exists(report, store) > 0
            if extra is not None:
                extra(sc, report, store)
        finally:
            store.close()

    async def assert_silent(self, name: str, tmp_path: Path, kb_index_dir: Path) -> None:
        """The fixed twin: the bug did not show, no root cause, no fact of the kind naming the culprit."""
        sc, report, store, shown = await self.diagnose(name, tmp_path, kb_index_dir, fixed=True)
        try:
            assert shown is False, name   # the fix really removed the bug
            assert report.verdict != "root_cause_found", render_markdown(report)
            culprit = (sc["culprit"]["module"], sc["culprit"]["function"])
            assert not [f for f in report.findings if f.detector == sc["fact"]
                        and (f.culprit.module, f.culprit.function) == culprit], render_markdown(report)
        finally:
            store.close()
