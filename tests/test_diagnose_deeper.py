"""One level down (tests/fixtures/deeper_apps): the caller combined a helper's result rightly, or
a callback looped rightly over what a helper built — the helper is named. A difference clamped
at 0 with its operands reversed, minutes cut to whole hours, a credit capped a tenth too low
(``value_origin`` through :mod:`elixir_scope.agents.evidence.pinned`); a look-up per ordered pair
and self-pair, a signing helper slow by itself in a callback's loop (``slow_callback`` through
:mod:`elixir_scope.agents.detectors.slow_parts`). Each app runs as a real node; its fixed twin
gives no confident culprit."""

from __future__ import annotations

import pytest

from support.dev_apps import DevApps

APPS = DevApps("deeper_apps")


def _overstay(sc, report, store) -> None:
    # the tariff added 0 * 50 to its base: the helper returned 0 for every car, late or not
    rc = report.root_cause
    assert rc.detector == "value_origin" and "overstay/2" in rc.title and "3 different inputs" in rc.title, rc.title
    assert "data:value_pinned" in rc.signatures
    assert not [f for f in report.findings if f.culprit.function == "charge/2" and not f.weak]


def _tutor_invoice(sc, report, store) -> None:
    # 3 h × 30.00 = 90.00; 105.00 needs 3.5 h: the helper dropped the half hour
    rc = report.root_cause
    assert rc.detector == "value_origin" and "returned 3 where 3.5" in rc.title, rc.title
    assert "rounded down" in rc.summary and "Tutors.Billing.invoice/2" in rc.summary, rc.summary


def _referral_credit(sc, report, store) -> None:
    # 1000 + 5000 = 6000: the cap, returned for 6, 4 and 9 friends alike
    rc = report.root_cause
    assert rc.detector == "value_origin" and "5000" in rc.title and "3 different inputs" in rc.title, rc.title
    assert any("also returned 5000" in e.summary for e in rc.evidence), rc.evidence


def _pair_distances(sc, report, store) -> None:
    # 36 look-ups for 6 stops: 15 pairs twice over and 6 stops paired with themselves
    rc = report.root_cause
    assert rc.detector == "slow_callback" and "legs/1" in rc.title, rc.title
    assert "36 times" in rc.summary and "6 pair an item with itself" in rc.summary, rc.summary
    assert "21 of them" in rc.summary and "callback:slow:repeated_work" in rc.signatures, rc.summary


def _ledger_digest(sc, report, store) -> None:
    # every entry distinct and needed: the callee's own time is the callback's
    rc = report.root_cause
    assert rc.detector == "slow_callback" and "Ledger.Sign.sign/2" in rc.title, rc.title
    assert "pair an item" not in rc.summary and "in Ledger.Sign.sign/2 itself" in rc.summary, rc.summary


EXTRA = {"overstay": _overstay, "tutor_invoice": _tutor_invoice, "referral_credit": _referral_credit,
         "pair_distances": _pair_distances, "ledger_digest": _ledger_digest}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_helper_one_level_down_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[name])


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)
