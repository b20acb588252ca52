"""Fewer confident wrong answers (tests/fixtures/precise_apps): facts that are true but do not
explain the symptom must not name the root cause — an error its caller acted on (it answered the
failing calls otherwise than the succeeding ones), state growth that is a bounded window filling
up, the supervisor's shutdown that only relays a crash loop — and a quantity crossing its
boundary is named where it first did. Each app runs as a real node; its fixed twin gives no
confident culprit."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown
from support.dev_apps import DevApps

APPS = DevApps("precise_apps")


def _no_handled_error(report) -> None:
    """The caller that answered the error (``:denied``) otherwise than success is no ignored error."""
    assert not [f for f in report.findings if f.detector == "ignored_error"], render_markdown(report)


def _bike_fares(sc, report, store) -> None:
    _no_handled_error(report)


def _heat_panel(sc, report, store) -> None:
    # the window of recent readings grew with every reading of the run: true, and no leak
    grown = [f for f in report.findings if f.detector == "state_growth"]
    assert grown and all(f.weak and "bounded by the work" in f.weak for f in grown), render_markdown(report)


def _payout_feed(sc, report, store) -> None:
    # the chain ends at the poison input's exception, not at the supervisor's shutdown it caused
    assert "12,50" in (report.root_cause.culprit.detail or ""), render_markdown(report)
    loop = next(f for f in report.findings if f.detector == "restart_loop")
    assert "max_restarts: 3 within max_seconds: 5" in loop.summary and "Feed.Parse.cents/1" in loop.summary, loop.summary
    noproc = [f for f in report.findings if f.detector == "call_failed" and "noproc" in f.title]
    assert noproc and all(f.caused_by == loop.id for f in noproc), render_markdown(report)
    assert all(h.culprit is None or (h.culprit.module, h.culprit.function) == ("Feed.Parse", "cents/1")
               for h in report.hypotheses if not getattr(h, "misfit", False)), render_markdown(report)


def _api_quota(sc, report, store) -> None:
    # a count under a key that looks secret (tokens) reaches the recording (agent v27), and its
    # step below zero is named with the value before and after
    assert report.root_cause.culprit.detail == "tokens: 0 → -1", report.root_cause.culprit
    assert "below 0" in report.root_cause.title, report.root_cause.title


def _kiln_seats(sc, report, store) -> None:
    assert report.root_cause.culprit.detail == "booked: 8 → 9", report.root_cause.culprit
    assert "past its capacity of 8" in report.root_cause.title, report.root_cause.title


def _parcel_lockers(sc, report, store) -> None:
    # the station answers {:noreply, state} either way, but sends a full station's parcel back
    # to the depot: a side effect of its own on the failing branch
    _no_handled_error(report)


EXTRA = {"bike_fares": _bike_fares, "parcel_lockers": _parcel_lockers, "heat_panel": _heat_panel, "payout_feed": _payout_feed,
         "api_quota": _api_quota, "kiln_seats": _kiln_seats}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA.get(name))


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
