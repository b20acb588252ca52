"""Data-flow bugs diagnosed end to end (tests/fixtures/dataflow_apps): numbers kept as text and
compared with numbers — a form field in a `max_by`, a decoded reading in a `> limit` filter, a
CSV cell in a `sort_by` — named where the text should have become a number, not where it is
compared; wrong values the symptom states only as a common number (`0%`) or as a magnitude the
program held with the other sign (`6 days` late, `-6`), named at the helper given the inputs the
symptom states; records lost to a key that is not unique (`Map.new` by SKU, `uniq_by` a surname),
named at the call that kept one per key. A total that only adds wrong parts (a tax per line, hours per
entry) is named at the function that made the parts, not at the sum. Each app runs as a real node; the report must cite only recorded events. Its
twin (the same app with the culprit fixed) runs too: no root cause, and no such fact naming the
culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("dataflow_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_left_the_value_unconverted_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
