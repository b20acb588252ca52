"""A node in interactive mode loads a module at its first call: the application's pure helper
that no process has called yet is not loaded when the diagnosis surveys the node, yet it is
where a wrong value will be made (instrument/survey.py). The survey lists it from the .beam
files beside the loaded modules — only when its name is already an atom there — and the
diagnosis, with no sources given, traces it and names it."""

from __future__ import annotations

import json
import subprocess

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node, RpcError
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.survey import app_modules
from elixir_scope.store import TraceStore
from support.nodes import REPO, start_node

APP = REPO / "tests" / "fixtures" / "value_apps" / "regatta"
# a module of the same application that nothing refers to: its name is no atom on the node
UNREFERENCED = 'defmodule RegattaArchiveXq7 do\n  def years, do: [2024, 2025]\nend\n'


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    ebin = tmp_path_factory.mktemp("ebin")
    extra = ebin.parent / "archive.ex"
    extra.write_text(UNREFERENCED)
    subprocess.run(["elixirc", "-o", str(ebin), str(APP / "regatta.ex"), str(extra)], check=True,
                   capture_output=True, timeout=180)
    node = start_node("elixir", code_paths=[ebin], eval_code="{:ok, _} = Regatta.start()")
    try:
        yield node
    finally:
        node.stop()


async def test_the_survey_lists_a_helper_not_loaded_yet_and_makes_no_atom(compiled):
    async with Node() as n:
        conn = await n.connect(compiled.name, cookie=compiled.cookie)
        assert await conn.rpc("code", "is_loaded", [Atom("Elixir.Regatta.Nav")]) is False
        mods = await app_modules(conn)
        assert "Elixir.Regatta.Fleet" in mods and "Elixir.Regatta.Nav" in mods
        # listed, not loaded: the survey reads the directory only
        assert await conn.rpc("code", "is_loaded", [Atom("Elixir.Regatta.Nav")]) is False
        assert "Elixir.RegattaArchiveXq7" not in mods
        with pytest.raises(RpcError):
            await conn.rpc("erlang", "binary_to_existing_atom", [b"Elixir.RegattaArchiveXq7", Atom("utf8")])


async def test_the_diagnosis_traces_the_unloaded_helper_and_names_it(compiled, tmp_path, kb_index_dir):
    sc = json.loads((APP / "scenario.json").read_text())
    dist = Node()
    try:
        conn = await dist.connect(compiled.name, cookie=compiled.cookie)
        store = TraceStore.open(tmp_path / "d.db")
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=compiled.name, trigger=sc["trigger"],
                                               seconds=1.0, max_rounds=1),
                                DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir))
        store.close()
    finally:
        await dist.close()
    assert report.verdict == "root_cause_found", render_markdown(report)
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Regatta.Nav", "mean_heading/1")
