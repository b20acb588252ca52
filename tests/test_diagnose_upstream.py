"""The right module, the wrong function — walk down to the callee (tests/fixtures/upstream_apps):
a wrong value returned by a function that only formatted or combined what a callee returned (a
date difference subtracted the wrong way round and clamped at 0, a number kept as its digit
string, a filter keeping the wrong elements, minutes turned into whole hours) is named at the
callee; a callback that blocks its callers is named at the local helper that spent its time.
Each app runs as a real node; its fixed twin gives no confident culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("upstream_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_callee_that_made_the_value_or_spent_the_time_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
