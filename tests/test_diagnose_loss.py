"""Silent loss diagnosed end to end (tests/fixtures/loss_apps): items that go in and never come
out, with no crash and no error — a range check whose upper bound excludes the full scale (`<`
for `<=`), an address pattern that refuses `+` and sub-domains, a line parser answering `nil` for
`7.5` hours, `nil` taken as not ready, a `case` whose last clause
answers `:ok` and keeps the state (a `nil` field), a `Map.put` under a key two guests share, an
`Enum.uniq_by` on a field that is not unique. Each is named at the last function that treated
the lost items unlike their look-alikes: the check that refused them (not the callback that
asked it, nor the reader that served the smaller collection), the callback that kept nothing,
the callback whose put replaced an earlier item, the call that kept one per key. Each app runs
as a real node; the report must cite only recorded events. Its twin (the culprit fixed) runs
too: no root cause, and no such fact naming the culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("loss_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_lost_the_items_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
