"""Fewer confident wrong answers, second set (tests/fixtures/false_apps): facts that are true but
do not explain the symptom must not name the root cause — a state that churns as it always does
(entries of a collection removed, a count growing) is no corruption before an unrelated crash,
an error answered by a retry that then succeeds is handled, not ignored, the reproduction's own
rescue reports a failure and does not cause it, and a value a recursive function made (recorded
calls only in the first round) is named where it was made once its returns are recorded. Each app runs as a real
node; its fixed twin gives no confident culprit."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown
from support.dev_apps import DevApps

APPS = DevApps("false_apps")


def _print_room(sc, report, store) -> None:
    # the spooler's jobs map lost entries as they were printed and its page count grew: no corruption
    assert not [f for f in report.findings if f.detector == "state_corruption"], render_markdown(report)


def _box_retry(sc, report, store) -> None:
    # checkout asked the busy gateway again and was paid: handled by the retry, not ignored
    assert not [f for f in report.findings if f.detector == "ignored_error"
                and f.culprit.module == "Tickets.Checkout"], render_markdown(report)


def _loan_desk(sc, report, store) -> None:
    # the reproduction rescued each failed loan: it reports the failure, the parser raised it
    assert not [h for h in report.hypotheses if h.culprit is not None and h.culprit.module == "Library"
                and h.culprit.function == "trigger/0"], render_markdown(report)


def _fx_till(sc, report, store) -> None:
    # the first round recorded the recursive walk calls only and named the public function that
    # passed its nil on; the next round recorded the walk's returns
    assert len(report.rounds) >= 2 and "recursive" in report.rounds[0].next, [r.next for r in report.rounds]
    broken = next(f for f in report.findings if f.detector == "contract_broken")
    assert "returned number" in broken.summary, broken.summary


EXTRA = {"print_room": _print_room, "box_retry": _box_retry, "loan_desk": _loan_desk, "fx_till": _fx_till}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA.get(name))


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
