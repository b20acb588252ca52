"""Work done again and again (tests/fixtures/repeat_apps): a cache whose key is new for every
request so it never hits (``cache_never_hits``), one expensive call repeated with the same
arguments and the same result inside a loop (``work_repeated``), a timer armed again for the same
message while the one before it is pending (``timer_rearmed``). Each app runs as a real node and is
diagnosed in one round; the fact names the function that causes it; its fixed twin gives no
confident culprit (a cache that hits, the work done once, the old timer cancelled)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown

from support.dev_apps import DevApps

APPS = DevApps("repeat_apps")


def _timer(sc, report, store) -> None:
    rc = report.root_cause
    assert "timer:leak:rearmed" in rc.signatures and "pending" in rc.title, render_markdown(report)
    # the arm while the earlier timer was pending is evidence, and so is the message handled again
    assert any("while" in e.summary and "pending" in e.summary for e in rc.evidence), rc.evidence
    assert any("again" in e.summary for e in rc.evidence), rc.evidence


def _cache(sc, report, store) -> None:
    rc = report.root_cause
    assert "cache:never_hits" in rc.signatures and "0 hits" in rc.title, render_markdown(report)


def _work(sc, report, store) -> None:
    rc = report.root_cause
    assert "callback:slow:repeated_work:same_args" in rc.signatures and "same arguments" in rc.title, render_markdown(report)


EXTRA = {"timer_rearmed": _timer, "cache_never_hits": _cache, "work_repeated": _work}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_repeats_the_work_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[APPS.scenario(name)["fact"]], max_rounds=1)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
