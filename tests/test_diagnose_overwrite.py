"""Silent loss by a colliding key, diagnosed end to end (tests/fixtures/overwrite_apps): a map of
lists replaced instead of appended, a map of maps keyed by customer (integer order numbers), a
struct field map written in a plain module, a keyword list, a `Map.update/4` whose function
drops what was there, an ETS `:set` table keyed by a shared field, a day sheet whose lookup
answers 0 for a replaced order while a log still holds it (a `stale_read` on the reader, which
must follow from the write). Each names the *writer* —
the callback, or the plain function it called that made the keyed write — through
`entry_overwritten`, never the reader that shows the smaller result; the report cites only
recorded events. Each fixed twin runs too: no root cause and no such fact — among them one
whose same key is legitimately replaced by the same item with a new status and time."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("overwrite_apps")


def _writer_not_reader(sc, report, _store) -> None:
    fact = next(f for f in report.findings if f.detector == "entry_overwritten")
    assert not fact.weak and fact.confidence >= 0.7, fact
    assert "lost" in fact.title and fact.evidence
    assert report.root_cause.culprit.detail, report.root_cause   # the writer's message
    # no reader (a count, a lookup) is named with confidence beside the writer; a reader that
    # answered from the state that lost the entry follows from the write (order_book: a lookup
    # on the day sheet answers 0 while the log still has the order)
    for f in report.findings:
        if f.detector in ("stale_read", "same_answer_for_all"):
            assert f.weak or f.confidence < 0.6, f
        if f.detector == "stale_read":
            assert f.caused_by == fact.id, f


@pytest.mark.parametrize("name", APPS.names)
async def test_the_writer_that_replaced_the_entry_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=_writer_not_reader)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
