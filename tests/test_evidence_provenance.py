"""Value provenance on a real node (agents/evidence/provenance.py, transforms.py): each buggy
function runs beside a correct twin given the same input, in one recording; only the buggy one
may become a fact, with its own module and function. The symptom-driven facts are also computed
for symptoms that state nothing, or values the recording never produced: then they stay silent."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Lib.Editions do
  # the newest edition of a title: compared as text ("4.9.2" > "4.10.0")
  def newest(editions), do: editions |> Enum.max_by(&elem(&1, 0)) |> elem(0)
  def newest_right(editions), do: editions |> Enum.max_by(&Version.parse!(elem(&1, 0)), Version) |> elem(0)
end

defmodule Lib.Overdue do
  # loans overdue on a day: only the first chunk of the scan is looked at
  def due(loans, day), do: loans |> Enum.take(12) |> Enum.filter(&(&1.until < day))
  def due_right(loans, day), do: Enum.filter(loans, &(&1.until < day))
  def notify(loans, day), do: length(due(loans, day))
  def notify_right(loans, day), do: length(due_right(loans, day))
end

defmodule Lib.Blurbs do
  use GenServer
  def start_link(key_by_lang), do: GenServer.start_link(__MODULE__, key_by_lang, name: name(key_by_lang))
  defp name(true), do: Lib.BlurbsRight
  defp name(false), do: Lib.Blurbs
  def blurb(server, isbn, lang), do: GenServer.call(server, {:blurb, isbn, lang})
  def init(key_by_lang), do: {:ok, %{by_lang: key_by_lang, cache: %{}}}

  def handle_call({:blurb, isbn, lang}, _from, s) do
    key = if s.by_lang, do: {isbn, lang}, else: isbn
    case Map.fetch(s.cache, key) do
      {:ok, text} -> {:reply, text, s}
      :error ->
        text = render(isbn, lang)
        {:reply, text, %{s | cache: Map.put(s.cache, key, text)}}
    end
  end

  defp render(isbn, "fr"), do: "Un roman d'aventures (#{isbn}) - 18,50 EUR"
  defp render(isbn, "de"), do: "Ein Abenteuerroman (#{isbn}) - 19,90 EUR"
end

defmodule Lib.Holds do
  @defaults [pickup: "main desk", notify: :email, days: 7]
  def build(isbn, opts), do: Map.new(Keyword.merge(opts, @defaults)) |> Map.put(:isbn, isbn)
  def build_right(isbn, opts), do: Map.new(Keyword.merge(@defaults, opts)) |> Map.put(:isbn, isbn)
end

defmodule Lib.Renewals do
  # renewal quotes kept newest first: a list of tagged results ({:ok, quote}), not options
  def push(week, acc), do: [offer(week) | Enum.take(acc, 2)]
  def offer(week), do: {:ok, %{week: week, fee: 10 * week}}
end

defmodule Lib.Members do
  def update(member, changes), do: Map.merge(member, changes)
  def update_right(member, changes), do: Map.merge(member, changes, fn _k, a, b -> if is_map(a) and is_map(b), do: Map.merge(a, b), else: b end)
end

defmodule Lib.Import do
  def rows(csv), do: csv |> String.trim_trailing() |> :binary.split("\n") |> tl()
  def rows_right(csv), do: csv |> String.trim_trailing() |> :binary.split("\n", [:global]) |> tl()
end

defmodule Lib.Fines do
  # a late fee as a share of the loan's value: float arithmetic, rounded afterwards
  def fee(value_cents, share), do: round(Float.round(value_cents / 100 * share, 2) * 100)
  def fee_right(value_cents, share_bp), do: div(value_cents * share_bp + 5_000, 10_000)
end

defmodule Lib.Cards do
  # a library card number: the generator reseeded from the clock on every call
  def number do
    :rand.seed(:exsss, {System.system_time(:second), 17, 4242})
    "LC-" <> Integer.to_string(:rand.uniform(899_999) + 100_000)
  end

  def number_right, do: "LC-" <> Integer.to_string(System.unique_integer([:positive, :monotonic]) + 100_000)
  def issue(member), do: {:ok, member, number()}
  def issue_right(member), do: {:ok, member, number_right()}
end

defmodule Lib.Notices do
  # a reading-room closure announced to the members waiting for a book
  def notify(members, text), do: members |> Stream.map(fn m -> {m, text} end) |> Stream.each(fn {m, t} -> send(self(), {:sms, m, t}) end)
  def notify_right(members, text), do: Enum.each(members, fn m -> send(self(), {:sms, m, text}) end)
  def announce(members, text), do: (notify(members, text); length(members))
  def announce_right(members, text), do: (notify_right(members, text); length(members))
end

defmodule Lib.Gate do
  # turnstile counters: the new gates send the count little-endian
  def decode(<<gate, count::32>>), do: {:ok, %{gate: gate, count: count}}
  def decode_right(<<gate, count::32>>) when gate < 10, do: {:ok, %{gate: gate, count: count}}
  def decode_right(<<gate, count::little-32>>), do: {:ok, %{gate: gate, count: count}}
end

defmodule Lib do
  def start do
    {:ok, a} = Lib.Blurbs.start_link(false)
    {:ok, b} = Lib.Blurbs.start_link(true)
    Process.unlink(a)
    Process.unlink(b)
    {:ok, a}
  end

  def run do
    eds = [{"4.8.1", ~D[2024-03-01]}, {"4.9.2", ~D[2025-02-11]}, {"4.10.0", ~D[2026-11-20]}]
    "4.9.2" = Lib.Editions.newest(eds)
    "4.10.0" = Lib.Editions.newest_right(eds)
    loans = for i <- 1..30, do: %{id: "L-#{i}", until: if(rem(i, 3) == 0, do: 40, else: 10)}
    Lib.Overdue.notify(loans, 20)
    Lib.Overdue.notify_right(loans, 20)
    for {server, lang} <- [{Lib.Blurbs, "fr"}, {Lib.Blurbs, "de"}, {Lib.BlurbsRight, "fr"}, {Lib.BlurbsRight, "de"}] do
      Lib.Blurbs.blurb(server, "978-3-16", lang)
    end
    Lib.Holds.build("978-0-14", [])
    Lib.Holds.build("978-0-15", notify: :sms, days: 14)
    Lib.Holds.build_right("978-0-14", [])
    Lib.Holds.build_right("978-0-15", notify: :sms, days: 14)
    Lib.Renewals.push(2, [])
    Lib.Renewals.push(2, [Lib.Renewals.offer(1), Lib.Renewals.offer(0)])
    member = %{name: "Ada", alerts: %{email: true, sms: true, push: false}, card: %{active: true}}
    Lib.Members.update(member, %{alerts: %{push: true}})
    Lib.Members.update_right(member, %{alerts: %{push: true}})
    csv = "member;isbn;days\nM-1;978-1;14\nM-2;978-2;7\nM-3;978-3;21\n"
    Lib.Import.rows(csv)
    Lib.Import.rows_right(csv)
    for f <- [&Lib.Cards.issue/1, &Lib.Cards.issue_right/1] do
      ["M-7", "M-8", "M-9"] |> Enum.map(fn m -> Task.async(fn -> f.(m) end) end) |> Enum.map(&Task.await/1)
    end
    frames = [<<1, 18_250::32>>, <<2, 9_120::32>>, <<3, 40_007::32>>, <<11, 23_500::little-32>>]
    for f <- frames, do: {Lib.Gate.decode(f), Lib.Gate.decode_right(f)}
    Lib.Notices.announce(["M-1", "M-2"], "reading room closed")
    Lib.Notices.announce_right(["M-1", "M-2"], "reading room closed")
    for {v, share, bp} <- [{3780, 0.07, 700}, {2580, 0.07, 700}, {250, 0.19, 1900}, {2450, 0.19, 1900}] do
      Lib.Fines.fee(v, share)
      Lib.Fines.fee_right(v, bp)
    end
    :ok
  end
end
'''

SPECS = ["Lib.Editions :: return", "Lib.Overdue :: return", "Lib.Blurbs :: return", "Lib.Holds :: return",
         "Lib.Renewals :: return",
         "Lib.Members :: return", "Lib.Import :: return", "Lib.Fines :: return",
         "Lib.Cards :: return", "Lib.Notices :: return", "Lib.Gate :: return"]

# what a librarian would write, with the values they saw and the ones they expected
EDITIONS = "we added edition 4.10.0 of the atlas last week, but the catalogue shows 4.9.2 as the newest edition"
OVERDUE = "30 loans are out and a third of them are overdue, but the morning run sent only 8 notices"
BLURBS = "German readers see the French blurb 'Un roman d'aventures (978-3-16) - 18,50 EUR' on the book page"


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("provenance"), APP, start="Lib.start()", run="Elixir.Lib",
                       specs=SPECS)


def _facts(view, symptom, kind):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return book.of_kind(kind)


def _only(view, symptom, kind):
    facts = _facts(view, symptom, kind)
    assert len(facts) == 1, [f.title for f in facts]
    return facts[0]


def test_value_lost_names_the_choice_that_dropped_the_expected_value(view):
    f = _only(view, EDITIONS, "value_lost")
    assert (f.culprit.module, f.culprit.function) == ("Lib.Editions", "newest/1")
    assert "4.9.2 instead of 4.10.0" == f.culprit.detail.strip('"'), f.culprit.detail
    assert f.signatures == ["data:value_lost"]
    # newest_right/1 was given the same list and returned 4.10.0: no fact for it
    assert all("newest_right" not in e.summary for e in f.evidence)


def test_value_origin_is_the_deepest_function_that_made_the_count(view):
    f = _only(view, OVERDUE, "value_origin")
    # notify/2 only counts what due/2 returned: the 8 rows were made in due/2
    assert (f.culprit.module, f.culprit.function) == ("Lib.Overdue", "due/2"), f.title
    assert f.signatures == ["data:value_origin"] and "8 notices" in f.title


def test_served_for_other_request_names_the_cache_callback(view):
    f = _only(view, BLURBS, "served_for_other_request")
    assert (f.culprit.module, f.culprit.function) == ("Lib.Blurbs", "handle_call/3")
    assert '"de"' in f.culprit.detail and '"fr"' in f.summary
    assert f.culprit.process == "Lib.Blurbs"   # not the twin keyed by language


def test_symptom_facts_stay_silent_without_values_or_on_values_never_made(view):
    quiet = "the catalogue looks odd since yesterday and readers complain"
    never = ("the catalogue shows 7.7.7 as the newest edition, the run sent only 29 notices, and the page "
             "shows 'Ein Roman ohne Ende'")
    for symptom in (quiet, never):
        for kind in ("value_lost", "value_origin", "served_for_other_request"):
            assert _facts(view, symptom, kind) == [], (symptom, kind)


def test_option_ignored_names_the_merge_that_lets_defaults_win(view):
    # Lib.Renewals.push/2, given [ok: q1, ok: q0] and returning [ok: q2, ok: q1, ok: q0] - what it
    # returns for [] too - handles tagged results, not options: no fact
    assert sum(1 for c in view.calls if c.mfa == "Lib.Renewals.push/2") == 2
    facts = _facts(view, "", "option_ignored")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Holds", "build/2")]
    assert "notify" in facts[0].title and ":sms" in facts[0].title and ":email" in facts[0].title


def test_nested_keys_lost_names_the_shallow_merge(view):
    facts = _facts(view, "", "nested_keys_lost")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Members", "update/2")]
    assert "email, sms" in facts[0].title


def test_records_joined_names_the_split_that_stopped(view):
    facts = _facts(view, "", "records_joined")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Import", "rows/1")]
    assert "4 records into 1 piece" in facts[0].title


def test_half_rounded_down_names_the_float_product(view):
    facts = _facts(view, "", "half_rounded_down")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Fines", "fee/2")]
    assert "(250, 0.19) returned 47, not 48" in facts[0].title, facts[0].title


def test_repeated_value_names_the_generator_when_the_symptom_speaks_of_duplicates(view):
    symptom = "three new members got the very same library card number this morning"
    facts = _facts(view, symptom, "repeated_value")
    # the numbers are made within a few ms: the same (two, should a second start in between);
    # the twin's are unique
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Cards", "number/0")]
    assert facts[0].title.endswith(("3 times", "2 times")) and facts[0].culprit.detail.startswith('"LC-')
    assert _facts(view, "the card numbers look odd", "repeated_value") == []


def test_stream_never_run_names_the_function_that_built_it(view):
    facts = _facts(view, "", "stream_never_run")
    # notify_right/2's Enum.each ran its function: no fact for it
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Notices", "notify/2")]
    assert facts[0].signatures == ["return:lazy_stream_dropped"]


def test_byte_order_swapped_names_the_decoder(view):
    facts = _facts(view, "", "byte_order_swapped")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Lib.Gate", "decode/1")]
    assert "in the other byte order it is 23500" in facts[0].title, facts[0].title
