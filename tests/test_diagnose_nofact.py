"""Rounds that saw plenty and concluded nothing (tests/fixtures/nofact_apps):

- a private check that refuses every item — a unit mixed up, a comparison the wrong way, a field
  the items never have — so nothing comes out, in GenServers and plain modules. No item was kept,
  so no contrast between kept and lost items exists; the fact is that every one of several
  different items got the same refusal while what they should reach never changed. The fixed
  twins' checks still rightly refuse one bad item;
- a wait the program made too short (a ``Task.yield/2`` timeout in the wrong unit, in a plain
  module and in a GenServer): it gave up while the quick work was still running, and that work
  answered later. The fixed twins wait long enough.

Each app runs as a real node; its fixed twin gives no confident culprit."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown

from support.dev_apps import DevApps

APPS = DevApps("nofact_apps")


def _refused(sc, report, store) -> None:
    rc = report.root_cause
    assert rc.detector == "all_refused", render_markdown(report)
    # a refused item is the detail, and the round decided on the first recording
    assert rc.culprit.detail and report.rounds[0].decided, render_markdown(report)
    assert "data:all_refused" in rc.signatures


def _gave_up(sc, report, store) -> None:
    rc = report.root_cause
    assert rc.detector == "wait_gave_up" and "wait:gave_up_early" in rc.signatures, render_markdown(report)
    # the wait's evidence is the nil it gave, then the task's work answering after it
    assert "nil" in rc.evidence[0].summary and "later" in rc.evidence[1].summary, rc.evidence
    assert report.rounds[0].decided


CHECKS = {"quote_yield": _gave_up, "board_yield": _gave_up}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_check_or_wait_at_fault_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=CHECKS.get(name, _refused))


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
