"""When a number is a correct combination of the list a call was given (agents/evidence/upstream.py):
the sum of one field, or of the product of two, over its elements — the arithmetic the recording
checks before it looks upstream for the producer of the list (the real-node cases are
tests/test_diagnose_origin.py)."""

from __future__ import annotations

from decimal import Decimal

from elixir_scope.agents.evidence.upstream import combination
from elixir_scope.instrument.etf import Atom


def _row(**kw):
    return {Atom(k): v for k, v in kw.items()}


def test_a_sum_of_one_field_is_a_combination():
    rows = [_row(meter=b"M1", at=1, kw=11), _row(meter=b"M2", at=2, kw=9), _row(meter=b"M3", at=3, kw=21)]
    assert combination(Decimal(41), rows) == "the sum of kw"


def test_a_sum_of_products_of_two_fields_is_a_combination():
    rows = [_row(sku=b"A", qty=4, price=12.0), _row(sku=b"B", qty=10, price=0.0), _row(sku=b"C", qty=6, price=1.0)]
    assert combination(Decimal("54.0"), rows) == "the sum of price × qty"


def test_plain_numbers_and_tuples_are_summed_too():
    assert combination(Decimal(6), [1, 2, 3]) == "the sum of the numbers"
    assert combination(Decimal(30), [(b"a", 10), (b"b", 20)]) == "the sum of element 1"


def test_a_number_the_inputs_do_not_make_is_no_combination():
    rows = [_row(qty=4, price=12.75), _row(qty=10, price=0.35)]
    assert combination(Decimal(41), rows) is None          # neither a field's sum nor a product's
    assert combination(Decimal(5), [5]) is None            # one element: passed on, not combined
    assert combination(Decimal(3), [_row(a=1), _row(b=2)]) is None   # no field every element has
