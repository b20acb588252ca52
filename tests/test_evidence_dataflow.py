"""The data-flow facts on a real node (agents/evidence/mixed.py, collapsed.py, inputs.py): each
buggy path runs beside a correct twin, recorded with its returns, and only the buggy one may
become a fact — naming where the value went wrong, not where it showed."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Form do
  def parse(p), do: %{who: p["who"], amount: String.trim(p["amount"])}
  def parse_right(p), do: %{who: p["who"], amount: String.to_integer(String.trim(p["amount"]))}
end

defmodule Pick do
  def best(bids), do: Enum.max_by(bids, & &1.amount)
  def best_right(bids), do: Enum.max_by(bids, & &1.amount)
end

defmodule Sheet do
  def row(line), do: line |> String.split(",") |> List.to_tuple()
  def row_right(line), do: (fn [t, p] -> {t, String.to_integer(p)} end).(String.split(line, ","))
  def ranked(rows), do: Enum.sort_by(rows, &elem(&1, 1), :desc)
  def ranked_right(rows), do: Enum.sort_by(rows, &elem(&1, 1), :desc)
end

defmodule Gauge do
  def decode(line), do: (fn [id, c] -> {id, c} end).(String.split(line, ";"))
  def decode_right(line), do: (fn [id, c] -> {id, String.to_float(c)} end).(String.split(line, ";"))
  def over(rs, limit), do: Enum.filter(rs, fn {_, c} -> c > limit end)
  def over_right(rs, limit), do: Enum.filter(rs, fn {_, c} -> c > limit end)
end

defmodule Lines do
  def index(ls), do: Map.new(ls, &{&1.sku, &1})
  def index_unique(ls), do: Map.new(ls, &{&1.sku, &1})
  def totals(ls), do: Enum.reduce(ls, %{}, fn l, acc -> Map.update(acc, l.sku, l.units, &(&1 + l.units)) end)
  def once(ls), do: Enum.uniq_by(ls, & &1.sku)
end

defmodule Ratio do
  def rate(part, whole), do: div(part, whole)
  def rate_right(part, whole), do: part / whole
  def late(due, back), do: Date.diff(due, back)
  def recent(ts, now, minutes), do: Enum.filter(ts, &(now - &1 <= minutes))
  def recent_right(ts, now, minutes), do: Enum.filter(ts, &(now - &1 <= minutes * 60))
end

defmodule DataflowApp do
  def start, do: {:ok, self()}

  def run do
    a = Pick.best([%{who: "a", amount: 80}, Form.parse(%{"who" => "h", "amount" => "95"}), %{who: "b", amount: 120}])
    b = Pick.best_right([%{who: "a", amount: 80}, Form.parse_right(%{"who" => "h", "amount" => "95"}), %{who: "b", amount: 120}])
    c = Sheet.ranked(Enum.map(["Owls,12", "Foxes,9", "Badgers,100"], &Sheet.row/1))
    d = Sheet.ranked_right(Enum.map(["Owls,12", "Foxes,9", "Badgers,100"], &Sheet.row_right/1))
    e = Gauge.over(Enum.map(["T1;31.5", "T2;19.0"], &Gauge.decode/1), 30)
    f = Gauge.over_right(Enum.map(["T1;31.5", "T2;19.0"], &Gauge.decode_right/1), 30)
    ls = [%{sku: "S-1", wh: "leeds", units: 12}, %{sku: "S-1", wh: "york", units: 30}, %{sku: "S-2", wh: "york", units: 7}]
    g = Lines.index(ls)
    h = Lines.index_unique([%{sku: "S-1", wh: "leeds", units: 12}, %{sku: "S-2", wh: "york", units: 7}])
    i = Lines.totals(ls)
    j = Lines.once([%{sku: "S-3", wh: "leeds", units: 4}, %{sku: "S-3", wh: "leeds", units: 4}, %{sku: "S-4", wh: "york", units: 9}])
    k = {Ratio.rate(9, 12), Ratio.rate_right(9, 12), Ratio.late(~D[2026-11-28], ~D[2026-12-04])}
    ts = Enum.map([20, 45, 600, 1500, 2400, 3000, 3500], &(1_800_000_000 - &1))
    l = {Ratio.recent(ts, 1_800_000_000, 60), Ratio.recent_right(ts, 1_800_000_000, 60)}
    {a, b, c, d, e, f, g, h, i, j, k, l}
  end
end
'''

SPECS = [f"{m} :: return" for m in ("Form", "Pick", "Sheet", "Gauge", "Lines", "Ratio")]


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("dataflow"), APP, start="DataflowApp.start()",
                       run="Elixir.DataflowApp", specs=SPECS)


def _facts(view, kind, symptom=""):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return {(f.culprit.module, f.culprit.function): f for f in book.of_kind(kind)}


def test_numbers_kept_as_text_are_blamed_where_they_were_not_converted(view):
    facts = _facts(view, "mixed_type_compare")
    # a pick (max_by over text and numbers), a sort (text only), a filter against a number
    assert set(facts) == {("Form", "parse/1"), ("Sheet", "row/1"), ("Gauge", "decode/1")}, sorted(facts)
    assert facts[("Form", "parse/1")].culprit.detail == '"95"'
    assert "Pick.best/1" in facts[("Form", "parse/1")].summary and "largest" in facts[("Form", "parse/1")].summary
    assert "sorted descending" in facts[("Sheet", "row/1")].summary and "as text" in facts[("Sheet", "row/1")].title
    assert "kept 2 of 2" in facts[("Gauge", "decode/1")].summary and '"19.0"' in facts[("Gauge", "decode/1")].summary
    # the correct twins (converted on the way in) give nothing
    assert not [f for f in facts.values() if "right" in f.title]


def test_records_collapsed_to_one_per_key(view):
    quiet = _facts(view, "entries_collapsed")
    f = quiet[("Lines", "index/1")]
    assert f.weak and "sku" in f.title, (f.title, f.weak)   # no loss said: keeping one per key may be meant
    # unique keys, a sum per key, a copy dropped: no loss
    assert set(quiet) == {("Lines", "index/1")}, sorted(quiet)
    said = _facts(view, "entries_collapsed", "the catalogue shows 30 units of S-1 although the file lists 12 in leeds")
    f = said[("Lines", "index/1")]
    assert f.weak is None and "12" in f.summary and '"leeds"' in f.culprit.detail, (f.summary, f.culprit.detail)


def test_a_common_value_and_a_sign_made_from_the_stated_inputs(view):
    rate = _facts(view, "value_origin", "the report gives a pass rate of 0% although 9 of its 12 students passed")
    assert ("Ratio", "rate/2") in rate and ("Ratio", "rate_right/2") not in rate, sorted(rate)
    late = _facts(view, "value_origin", "the book due 2026-11-28 came back on 2026-12-04, 6 days late, but no fee was charged")
    assert ("Ratio", "late/2") in late and "negative" in late[("Ratio", "late/2")].title, sorted(late)
    kept = _facts(view, "value_origin", "the alarm screen lists only 2 of the 7 alerts raised in the last hour")
    assert set(kept) == {("Ratio", "recent/3")} and "kept 2 of 7" in kept[("Ratio", "recent/3")].title, sorted(kept)
