"""The values a symptom states (agents/evidence/stated.py), table-driven: text → the values
with their kind and role; and bounded, total on any text."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from elixir_scope.agents.evidence.stated import MAX_VALUES, stated_values


def _by_text(symptom):
    return {v.text: v for v in stated_values(symptom)}


@pytest.mark.parametrize("symptom, text, kind, role, number", [
    ("we published firmware 2.10.1 this evening, but the scooters were put back on 2.9.4", "2.10.1", "version", "expected", None),
    ("we published firmware 2.10.1 this evening, but the scooters were put back on 2.9.4", "2.9.4", "version", "seen", None),
    ("the report says 46 animals are due, but the run sent only 17 reminders", "17 reminders", "count", "seen", Decimal(17)),
    ("the report says 46 animals are due, but the run sent only 17 reminders", "46 animals", "count", "stated", Decimal(46)),
    ("the page shows the price in euros (EUR 249.00) and checkout charges CHF 275", "249.00", "money", "stated", Decimal("249.00")),
    ("the difference is always exactly one cent", "one cent", "money", "stated", Decimal("0.01")),
    ("the order file has six lines for two stores", "six lines", "count", "seen", Decimal(6)),
    ("the import log says booked: 1, rejected: 0", "booked: 1", "count", "seen", Decimal(1)),
    ("badges come out as 'JÃ¼rgen MÃ¼ller' at the kiosk", "JÃ¼rgen MÃ¼ller", "text", "seen", None),
    ("subscriber +31 6 1234 0081 got no warning at 80% of her data", "+31 6 1234 0081", "identifier", "stated", None),
    ("store FM-022 got nothing", "FM-022", "identifier", "stated", None),
    ("the reminders for 2026-12-01 were never sent", "2026-12-01", "date", "stated", None),
    ("the reminders were never sent for 2026-12-01", "2026-12-01", "date", "expected", None),
    ("the bill was 1,049.00 USD", "1,049.00", "money", "stated", Decimal("1049.00")),
    ("a pass rate of 0% although 9 of its 12 students passed (75% expected)", "75%", "number", "expected", Decimal(75)),
    ("the report shows a pass rate of 0% although 9 of its 12 students passed (75% expected)", "0%", "number", "seen", Decimal(0)),
])
def test_stated_values(symptom, text, kind, role, number):
    v = _by_text(symptom).get(text)
    assert v is not None, [x.describe() for x in stated_values(symptom)]
    assert (v.kind, v.role) == (kind, role), v
    if number is not None:
        assert v.number == number, v


def test_nothing_concrete_gives_nothing():
    assert stated_values("") == []
    assert stated_values("checkout hangs and times out, no errors in the logs") == []


def test_bounded_and_total_on_any_text():
    rng = random.Random(7)
    alphabet = "abc 0123456789.,;:'\"-+€$£%()\n\tÃ¼ß"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        values = stated_values(text)
        assert len(values) <= MAX_VALUES
    many = " ".join(f"order O-{i} cost {i}.50 EUR" for i in range(500))
    assert len(stated_values(many)) == MAX_VALUES


@pytest.mark.parametrize("symptom, text, kind, role, number", [
    # a unit of measure makes a measurement (any number field), not a number of things
    ("the race board shows the fleet's mean heading as 180 degrees although the boats sail north", "180", "number", "seen",
     Decimal(180)),
    ("the table puts Rovers, with 1 point, first and Harbour, with 10 points, last", "10", "number", "stated", Decimal(10)),
    ("the scale shows 82 kg for an empty crate", "82", "number", "seen", Decimal(82)),
    # a display verb, the thing shown, then the value
    ("the statement shows a closing balance of EUR 1425.77 for an opening balance of EUR 1000.00", "1425.77", "money",
     "seen", Decimal("1425.77")),
    ("the statement shows a closing balance of EUR 1425.77 for an opening balance of EUR 1000.00", "1000.00", "money",
     "stated", Decimal("1000.00")),
    # a total the program came to, and the value it fell short of
    ("the receipt totals EUR 3.98, one cent short of EUR 3.99", "3.98", "money", "seen", Decimal("3.98")),
    ("the receipt totals EUR 3.98, one cent short of EUR 3.99", "3.99", "money", "expected", Decimal("3.99")),
    # things counted stay counts
    ("the run sent only 17 reminders", "17 reminders", "count", "seen", Decimal(17)),
    # a verb of what was given ("paid") before the value a correction follows: what came out
    ("kim worked a 225 minute shift but was paid for 3 h instead of 3.75 h", "3", "number", "seen", Decimal(3)),
    ("kim worked a 225 minute shift but was paid for 3 h instead of 3.75 h", "3.75", "number", "expected",
     Decimal("3.75")),
    ("I paid 20 EUR but was charged 25 EUR", "20", "money", "expected", Decimal(20)),
    ("it should be 6 instead of 0", "6", "number", "expected", Decimal(6)),
    # a display verb, the thing shown, "with" the value
    ("the board shows ann as the leader with 95", "95", "number", "seen", Decimal(95)),
    # a short code with a separator names a case ("R-7"), it counts nothing
    ("rental R-7 came back 4 days late, but the late fee is 0.00 instead of 6.00", "R-7", "identifier", "stated", None),
])
def test_measures_and_display_verbs(symptom, text, kind, role, number):
    v = _by_text(symptom)[text]
    assert (v.kind, v.role, v.number) == (kind, role, number)


def test_cents_are_significant_from_ten():
    from elixir_scope.agents.evidence.valuematch import significant

    vs = _by_text("the stamp line is charged 28 cents, the difference is one cent")
    assert significant(vs["28"]) and not significant(vs["one cent"])


@pytest.mark.parametrize("symptom, text, role", [
    ("invoice INV-1 was booked with a total of 54.0 although its lines come to 63.50", "54.0", "seen"),
    ("invoice INV-1 was booked with a total of 54.0 although its lines come to 63.50", "63.50", "expected"),
    ("its monthly bill is 17100 cents instead of 285", "17100", "seen"),
    ("its monthly bill is 17100 cents instead of 285", "285", "expected"),
    ("the checkout asks 19200 cents for the cart", "19200", "seen"),
    ("the order totals EUR 41.50 although nothing was discounted", "41.50", "seen"),
    # a currency sign between the words and the amount
    ("the invoice came to $90.00 instead of $105.00", "105.00", "expected"),
    ("the car was charged only $5.00, the base price", "5.00", "seen"),
    ("her balance is now £60.00, it should be £94.00", "60.00", "seen"),
    ("her balance is now £60.00, it should be £94.00", "94.00", "expected"),
])
def test_totals_corrections_and_concessions_get_their_role(symptom, text, role):
    got = {v.text: v.role for v in stated_values(symptom)}
    assert got.get(text) == role, got
