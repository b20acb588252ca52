"""Wrong values traced back to the function that made them (tests/fixtures/origin_apps): a total,
a count, a load or an amount to pay that is wrong because a part was — a stay's length in the
wrong unit, a price parsed without its decimals, a dedupe that kept the oldest reading, crates per
line off by one, a promotion taken off twice — named at the function that turned right inputs
into the wrong part, not at the function that added the parts up or held the result. Each app
runs as a real node; its fixed twin stays silent."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("origin_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_made_the_wrong_part_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
