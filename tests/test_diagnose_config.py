"""Configuration and option reads that fall back to their default, diagnosed end to end
(tests/fixtures/config_apps): an application setting read under a shorter name, a string key
where the settings have atoms, an option read one level above where it sits, a setting fetched
from a near application name — named at the
function that made the read, not where the default's effect shows. Each app runs as a real
node; the report must cite only recorded events. Its twin (the read fixed) runs too: no root
cause, and no such fact naming the culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("config_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_read_the_wrong_key_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
