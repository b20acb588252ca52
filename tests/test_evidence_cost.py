"""The diagnosis's own cost stays bounded on big states and busy recordings, without losing
facts (tests/fixtures/cost_apps): a GenServer whose state holds 2,000 SKUs serves a few hundred
calls before a wrong quote — the culprit is named, the facts on its recording are the ones the
eager digests found (before they became lazy), its fixed twin stays silent; a walk over a term
past its budget counts what it left; the ``@spec``s come from the source analysis's one parse.
The CPU itself is measured by benchmarks/bench_evidence.py, never asserted here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from elixir_scope.agents import graph
from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.evidence.keytext import key_text
from elixir_scope.agents.evidence.valuematch import MAX_NODES, Digests, Walk, digest
from elixir_scope.agents.state import DiagnosisState
from elixir_scope.agents.view import RecordingView, fmt
from elixir_scope.instrument.etf import Atom
from elixir_scope.knowledge.source import parse as source_parse
from elixir_scope.knowledge.source.specs import return_specs
from support.dev_apps import DevApps
from support.nodes import REPO

APPS = DevApps("cost_apps")

# What build_facts finds on depot_quote's first-round recording — (kind, culprit module,
# culprit function) in the book's order —, as the eager digests of main at cb2305c found it on
# the same recordings (benchmarks/bench_evidence.py --code, A/B): the quote's total, made by the
# pricing helper.
DEPOT_FACTS = [("value_origin", "Depot.Pricing", "total/1")]


def _same_facts(sc, report, store) -> None:
    view = RecordingView.from_recording(store.recording(report.recording_id))
    book = build_facts(view, sc["symptom"])
    assert book.errors == []
    got = [(f.detector, f.culprit.module, f.culprit.function) for f in book.facts]
    assert got == DEPOT_FACTS


@pytest.mark.parametrize("name", APPS.names)
async def test_the_culprit_is_named_and_the_facts_kept_on_a_big_state(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, max_rounds=1,
                            extra=_same_facts if name == "depot_quote" else None)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_a_walk_past_its_budget_counts_the_subterms_it_left():
    big = {i: i + 100_000 for i in range(5000)}   # 1 map + 10,000 keys and values
    d = digest(big)
    assert d.skipped == 1 + 2 * 5000 - MAX_NODES
    assert d.cut is False   # not cut by the agent: left by the walk, and said so
    assert 100_000 in d.numbers and 104_999 not in d.numbers   # the first entries walked, the last not
    small = digest((Atom("ok"), [1, 2, 3], {b"k": b"v"}))
    assert small.skipped == 0 and small.lengths == {3} and small.texts == ["k", "v"]
    w = Walk(3)
    assert list(w.leaves([10, [20, 30], 40])) == [[10, [20, 30], 40], 10, [20, 30]]
    assert (w.walked, w.skipped) == (3, 3)   # 20, 30 and 40


def test_a_walk_opens_a_huge_map_only_as_far_as_its_budget():
    """The walk costs the nodes it walks, not the term's size: a map of a million entries is
    walked to the budget and the rest counted, without listing its entries first."""
    huge = {i: i for i in range(1_000_000)}
    w = Walk(100)
    got = list(w.leaves(huge))
    assert len(got) == 99 and w.skipped == 1 + 2_000_000 - 100


def test_digests_are_kept_per_term_identity():
    ds = Digests()
    t, twin = [1, 2, 3], [1, 2, 3]
    assert ds(t) is ds(t)
    assert ds(twin) is not ds(t) and ds(twin) == ds(t)
    bounded = Digests(limit=1)
    bounded(t)
    assert bounded(twin) is not bounded(twin)   # past its limit it digests without keeping


async def test_the_specs_come_from_the_one_parse_of_the_sources(monkeypatch):
    app = REPO / "tests" / "fixtures" / "contract_apps" / "stock_reserve"
    files = sorted(app.glob("*.ex"))
    want = return_specs(app)
    assert want, "the app's sources declare @specs"
    parsed: list[str] = []
    real = source_parse.SourceParser.parse_file

    def counting(self, path, *args, **kwargs):
        parsed.append(Path(path).name)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(source_parse.SourceParser, "parse_file", counting)

    async def progress(*_a, **_k):
        return None

    runtime = SimpleNamespace(context=SimpleNamespace(report_progress=progress))
    update = await graph.analyze_sources(DiagnosisState(symptom="a reservation fails", source_path=str(app)), runtime)
    assert update["source_summary"]["return_specs"] == want
    assert sorted(parsed) == [f.name for f in files]   # each file once


def test_map_keys_are_remembered_as_printed_never_mixed_up():
    """key_text remembers what fmt printed per key: keys that are equal in Python but printed
    apart (1, 1.0, true; 0.0 and -0.0; {1, 2} and {1.0, 2}) keep their own text."""
    keys = [1, 1.0, True, 0.0, -0.0, b"sku", Atom("sku"), "sku", (1, 2), (1.0, 2), (True, 2), (0.0,), (-0.0,),
            (b"10.0.0.1", [(Atom("lang"), b"en"), (Atom("request_id"), 80)]), [1, 2], {b"k": 1}, b"x" * 1000]
    for _ in range(2):   # the second round reads what the first remembered
        for k in keys:
            assert key_text(k) == fmt(k, 40), k
            assert key_text(k, 12) == fmt(k, 12), k
