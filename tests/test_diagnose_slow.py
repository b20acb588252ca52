"""Slowness and timeouts diagnosed end to end (tests/fixtures/slow_apps): a server or a
Task that took longer than its caller waited — a GenServer.call, a Task.await, a
:gen_statem.call — named at the function where the time went (a rolling median sorted again
for every reading, a retry loop sleeping between tries, a loader fetching a whole region, a
receive waiting for a message no one sends, a dependency called synchronously), not at the
callback that called it. Each app runs as a real node; the report must cite only recorded
events. Its twin (the slowness fixed) runs too: no root cause, and no such fact naming the
culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("slow_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_where_the_time_went_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
