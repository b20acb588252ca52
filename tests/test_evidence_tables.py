"""ETS tables leaked (agents/evidence/tables.py), on a real node: a GenServer that creates a
scratch table per request and never deletes it is named at the function that creates them;
its twin, which deletes each table when the request is done, leaves no fact; and the planner
records table creation for a memory symptom."""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once

APP = Path(__file__).parent / "fixtures" / "table_apps" / "tiles.ex"
SYMPTOM = ("the tile server's memory grows with every map tile rendered and is only given back when we restart "
           "it; the tiles themselves look right")


async def test_a_table_per_request_never_deleted_is_named_where_it_is_created(tmp_path: Path, kb_index_dir):
    report, book = await diagnose_once(tmp_path, kb_index_dir, APP.read_text(), app="Atlas", symptom=SYMPTOM)
    assert any(s.spec.startswith(":ets.new(") for s in report.plan.specs), report.plan.specs
    found = book.of_kind("ets_tables_leaked")
    assert len(found) == 1, [(f.id, f.title) for f in book.facts]
    f = found[0]
    assert (f.culprit.module, f.culprit.function) == ("Atlas.Tiles", "scratch_table/1"), f.culprit
    assert ":tile_scratch" in f.culprit.detail and "12 tables" in f.title and f.weak is None, f
    assert report.root_cause is not None, report.verdict
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == ("Atlas.Tiles", "scratch_table/1")


async def test_tables_deleted_when_the_work_is_done_are_no_leak(tmp_path: Path, kb_index_dir):
    fixed = APP.read_text().replace("defp done(_tab), do: :ok", "defp done(tab), do: :ets.delete(tab)")
    assert fixed != APP.read_text()
    report, book = await diagnose_once(tmp_path, kb_index_dir, fixed, app="Atlas", symptom=SYMPTOM)
    assert book.of_kind("ets_tables_leaked") == [], [(f.id, f.title) for f in book.facts]
    assert report.root_cause is None or report.root_cause.detector != "ets_tables_leaked"
