"""``check_then_act`` and ``reply_swapped`` on real nodes (apps in tests/fixtures/race_apps):
concurrent clients of one server. A client function that reads in one call and writes in a
second while another client's write lands between them is the culprit of a lost update or a
double grant — not the server that stored it. A caller answered with another concurrent
request's answer blames the function that paired the answer with the caller. Each app has a
twin (the same app, fixed) that must stay silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "race_apps"
KINDS = ("check_then_act", "reply_swapped")


def _app(name: str) -> tuple[str, dict]:
    sc = json.loads((APPS / name / "scenario.json").read_text())
    return "\n".join((APPS / name / f).read_text() for f in sc["files"]), sc


async def _diagnose(tmp_path: Path, kb_index_dir, name: str):
    src, sc = _app(name)
    report, book = await diagnose_once(tmp_path, kb_index_dir, src, app=sc["start"].split(".")[0],
                                       symptom=sc["symptom"], trigger=sc["trigger"])
    return report, book, sc


def _shown(book) -> list:
    return [(f.id, f.title, f.caused_by) for f in book.facts]


@pytest.mark.parametrize("name, kind, detail", [
    # a GenServer asked who holds a seat, then told to assign it: every fan books the same seat
    ("seat_booking", "check_then_act", '"A12"'),
    # an Agent.get then an Agent.update with the count read: concurrent votes are lost
    ("vote_tally", "check_then_act", ":yes"),
    # a bare :balance read, then {:set, balance - amount}: no key to share, the whole value read
    ("wallet_spend", "check_then_act", "30"),
    # "which bay is free?" answered :bay_2, then {:claim, :bay_2, truck}: the key is the read's answer
    ("slot_pick", "check_then_act", '"TR-'),
    # froms queued in arrival order, answered from the head as lookups finish out of order
    ("route_lookup", "reply_swapped", ":route_done"),
    # a batch rendered in completion order, zipped with its callers in arrival order
    ("label_printer", "reply_swapped", ":flush"),
    # a stack of froms, the newest answered with a bare number a lookup made for another product
    ("price_desk", "reply_swapped", ":priced"),
])
async def test_a_race_between_concurrent_clients_blames_the_function_that_made_it(tmp_path: Path, kb_index_dir,
                                                                                  name: str, kind: str, detail: str):
    report, book, sc = await _diagnose(tmp_path, kb_index_dir, name)
    want = (sc["culprit"]["module"], sc["culprit"]["function"])
    found = book.of_kind(kind)
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == want, c
    assert detail in (c.detail or ""), c.detail
    assert not book.of_kind(*(k for k in KINDS if k != kind)), _shown(book)
    assert report.root_cause is not None
    assert (report.root_cause.culprit.module, report.root_cause.culprit.function) == want


@pytest.mark.parametrize("name", ["seat_booking_fixed", "vote_tally_fixed", "route_lookup_fixed", "label_printer_fixed",
                                  "slot_pick_fixed"])
async def test_clients_of_a_server_that_is_atomic_and_pairs_its_answers_leave_no_fact(tmp_path: Path, kb_index_dir, name: str):
    _, book, _ = await _diagnose(tmp_path, kb_index_dir, name)
    assert not book.of_kind(*KINDS), _shown(book)


async def test_a_write_that_keeps_the_other_clients_change_is_no_check_then_act(tmp_path: Path, kb_index_dir):
    # the same read-then-write, but the write appends to what the seat holds: every concurrent
    # write survives the next one, nothing read is lost
    src, sc = _app("seat_booking")
    appends = src.replace("{:reply, :ok, Map.put(chart, seat, fan)}", "{:reply, :ok, Map.update(chart, seat, [fan], &(&1 ++ [fan]))}")
    assert appends != src
    _, book = await diagnose_once(tmp_path, kb_index_dir, appends, app="Seats", symptom=sc["symptom"], trigger=sc["trigger"])
    assert not book.of_kind("check_then_act"), _shown(book)
