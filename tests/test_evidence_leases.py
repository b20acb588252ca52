"""``lock_order_inversion`` and ``lease_never_released`` on real nodes (apps in
tests/fixtures/lock_apps): the lock server is where callers wait, the culprit is the code that
took its grants in an order that closes a cycle, or took one and never gave it back. Each has a
twin that must stay silent: the same locks taken in one order, a connection checked in on the
error path too."""

from __future__ import annotations

import json
from pathlib import Path

from support.diagnose_once import diagnose_once

APPS = Path(__file__).parent / "fixtures" / "lock_apps"
KINDS = ("lock_order_inversion", "lease_never_released", "lease_self_wait")


def _app(name: str) -> tuple[str, dict]:
    sc = json.loads((APPS / name / "scenario.json").read_text())
    return "\n".join((APPS / name / f).read_text() for f in sc["files"]), sc


async def _diagnose(tmp_path: Path, kb_index_dir, name: str, source: str | None = None):
    src, sc = _app(name)
    return await diagnose_once(tmp_path, kb_index_dir, source or src, app=sc["start"].split(".")[0],
                               symptom=sc["symptom"], trigger=sc["trigger"])


def _shown(book) -> list:
    return [(f.id, f.title, f.caused_by) for f in book.facts]


async def test_locks_taken_in_opposite_orders_blame_the_function_that_took_them(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "ledger_transfer")
    found = book.of_kind("lock_order_inversion")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Ledger.Transfer", "move/3"), c
    assert '"acct-17"' in c.detail and '"acct-42"' in c.detail, c.detail
    # the lock server's deferred replies are its effects, not a cause of their own
    for f in book.of_kind("reply_never_sent"):
        assert book.origin(f).id == found[0].id, _shown(book)
    assert report.root_cause is not None and report.root_cause.culprit.module == "Ledger.Transfer", report.root_cause


async def test_locks_taken_in_one_order_leave_no_lock_fact(tmp_path: Path, kb_index_dir):
    _, book = await _diagnose(tmp_path, kb_index_dir, "ledger_sorted")
    assert not book.of_kind(*KINDS), _shown(book)


async def test_a_connection_kept_on_an_error_path_is_never_released(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "print_pool")
    found = book.of_kind("lease_never_released")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function, c.detail) == ("PrintPool.Jobs", "print/1", "{:error, :empty_document}"), c
    assert report.root_cause is not None and report.root_cause.culprit.module == "PrintPool.Jobs", report.root_cause


async def test_a_connection_checked_in_on_every_path_leaves_no_lease_fact(tmp_path: Path, kb_index_dir):
    src, _ = _app("print_pool")
    fixed = src.replace("{:error, reason} ->\n        {:error, reason}",
                        "{:error, reason} ->\n        PrintPool.Pool.checkin(conn)\n        {:error, reason}")
    assert fixed != src
    _, book = await _diagnose(tmp_path, kb_index_dir, "print_pool", fixed)
    assert not book.of_kind(*KINDS), _shown(book)


async def test_a_holder_that_raises_with_the_lease_is_the_culprit_not_the_server(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "freezer_doors")
    found = book.of_kind("lease_never_released")
    assert len(found) == 1, _shown(book)
    assert (found[0].culprit.module, found[0].culprit.function) == ("Freezer.Defrost", "run/2"), found[0].culprit
    assert report.root_cause is not None and report.root_cause.culprit.module != "Freezer.Doors", report.root_cause


async def test_a_batch_that_holds_every_slot_waits_for_itself(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "label_batch")
    found = book.of_kind("lease_self_wait")
    assert len(found) == 1, _shown(book)
    assert (found[0].culprit.module, found[0].culprit.function) == ("Labels.Batch", "print_all/1"), found[0].culprit
    assert not book.of_kind("lease_never_released"), _shown(book)
    assert report.root_cause is not None and report.root_cause.culprit.module == "Labels.Batch", report.root_cause


async def test_a_batch_that_gives_each_slot_back_before_the_next_leaves_no_lease_fact(tmp_path: Path, kb_index_dir):
    src, _ = _app("label_batch")
    fixed = src.replace(
        "slots = Enum.map(labels, fn label -> {label, Labels.Slots.take()} end)\n"
        "    Enum.each(slots, fn {_label, {:slot, n}} -> Labels.Slots.give({:slot, n}) end)",
        "slots = Enum.map(labels, fn label -> slot = Labels.Slots.take(); Labels.Slots.give(slot); {label, slot} end)")
    assert fixed != src
    _, book = await _diagnose(tmp_path, kb_index_dir, "label_batch", fixed)
    assert not book.of_kind(*KINDS), _shown(book)


async def test_global_locks_taken_in_opposite_orders_blame_the_function_that_took_them(tmp_path: Path, kb_index_dir):
    report, book = await _diagnose(tmp_path, kb_index_dir, "seat_global")
    found = book.of_kind("lock_order_inversion")
    assert len(found) == 1, _shown(book)
    c = found[0].culprit
    assert (c.module, c.function) == ("Seats.Swap", "swap/2"), c
    assert '"12A"' in c.detail and '"14C"' in c.detail, c.detail
    assert report.root_cause is not None and report.root_cause.culprit.module == "Seats.Swap", report.root_cause


async def test_global_locks_taken_in_one_order_leave_no_lock_fact(tmp_path: Path, kb_index_dir):
    src, _ = _app("seat_global")
    fixed = src.replace("  def swap(a, b) do\n", "  def swap(a, b) do\n    [a, b] = Enum.sort([a, b])\n")
    assert fixed != src
    _, book = await _diagnose(tmp_path, kb_index_dir, "seat_global", fixed)
    assert not book.of_kind(*KINDS), _shown(book)
