"""Items merged away by the wrong key, diagnosed end to end (tests/fixtures/collapse_apps): a
composite key in `Map.new`, a date derived from a time stamp in `group_by |> map(hd)`, a seen-set
across casts remembering the content instead of the id (in a private helper) and one remembering
a name lower-cased (inline in a callback), a `reduce` into a map under a key built as text,
`List.keystore` and `Keyword.put` on a field that is not unique. Each is named at the deepest
application function where distinct items became one — the private helper or plain function, not
the callback whose state ended smaller nor the client that returned the smaller count — through
`entries_collapsed`, with the records in and out, the key (``key`` in scenario.json), two merged
records and the field that told them apart (``apart``). Each fixed twin runs too — three of them
still drop a real duplicate (the same item sent twice): no root cause and no such fact."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("collapse_apps")
_EFFECTS = ("value_origin", "items_unstored", "entry_overwritten", "stale_read", "same_answer_for_all")


def _the_merge_shown(sc, report, _store) -> None:
    fact = next(f for f in report.findings if f.detector == "entries_collapsed"
                and f.culprit.function == sc["culprit"]["function"])
    assert not fact.weak and fact.confidence >= 0.7, fact
    assert sc["kept"] + " of " + sc["given"] in fact.title, fact.title          # N in, M out
    assert sc["key"] in fact.title and sc["key"] + " = " in fact.summary, fact  # the key they share
    assert f"differ in {sc['apart']} (" in fact.summary, fact.summary           # the field that told them apart
    assert " and " in fact.summary.split(" share ")[0], fact.summary            # two of the merged records
    # what the callback or the client saw of the smaller collection follows from the merge
    for f in report.findings:
        if f.detector in _EFFECTS and f.culprit is not None and f.culprit.function != fact.culprit.function:
            assert f.weak or f.caused_by == fact.id or f.confidence < 0.6, f


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_merged_the_items_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=_the_merge_shown)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
