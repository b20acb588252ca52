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


# ---- on a real node: one recording, several symptoms -------------------------------------------

import pytest  # noqa: E402

from elixir_scope.agents.evidence import build_facts  # noqa: E402
from support.fact_recording import record_view  # noqa: E402

APP = r'''
defmodule Up.Stock do
  # the newest count per bin should be kept; the list is oldest first, uniq_by keeps the oldest
  def latest(counts), do: Enum.uniq_by(counts, & &1.bin)
  def on_hand(counts), do: counts |> Enum.map(& &1.n) |> Enum.sum()
  # a combiner that makes its own mistake: the sum plus a spare it should not add
  def with_spare(counts), do: on_hand_raw(counts) + 7
  defp on_hand_raw(counts), do: counts |> Enum.map(& &1.n) |> Enum.sum()
end

defmodule Up do
  def start, do: {:ok, self()}

  def run do
    counts = [%{bin: "B1", n: 130}, %{bin: "B2", n: 250}, %{bin: "B1", n: 118}, %{bin: "B2", n: 260}]
    kept = Up.Stock.latest(counts)
    Up.Stock.on_hand(kept)
    Up.Stock.with_spare([%{bin: "C1", n: 400}, %{bin: "C2", n: 515}])
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("upstream"), APP, start="Up.start()", run="Elixir.Up",
                       specs=["Up :: return", "Up.Stock :: return"])


def _origins(view, symptom):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return [(f.culprit.module, f.culprit.function, f.confidence, f.weak is not None) for f in book.of_kind("value_origin")]


def test_a_sum_of_the_list_it_was_given_is_followed_to_the_list_s_producer(view):
    # the symptom states the counts that should have been kept: the producer was given them and dropped them
    got = _origins(view, "the shelf shows a stock of 380 although the latest counts are 118 and 260")
    assert [(m, f) for m, f, _c, _w in got] == [("Up.Stock", "latest/1")], got
    assert got[0][2] >= 0.7 and not got[0][3], got


def test_without_the_dropped_values_the_producer_is_where_to_look_and_the_sum_is_not_named(view):
    got = _origins(view, "the shelf shows a stock of 380, far more than the bins hold")
    assert [(m, f) for m, f, _c, _w in got] == [("Up.Stock", "latest/1")], got
    assert got[0][3], got   # weak: the recording does not show which input was wrong


def test_a_combiner_whose_number_its_inputs_do_not_make_is_still_named(view):
    got = _origins(view, "the shelf shows a stock of 922")
    assert [(m, f) for m, f, _c, _w in got] == [("Up.Stock", "with_spare/1")], got
