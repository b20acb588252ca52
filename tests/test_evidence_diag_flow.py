"""Where the failing cases part from the right ones (agents/evidence/diag_flow.py), and dates
stated in words followed to where they were made (stated.py, valuematch.py), on a real node: each
buggy function runs beside a correct twin given the same input, in one recording; only the buggy
one may become a fact. Symptoms that name no failing case, or cases the recording never handled,
leave the facts silent."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from elixir_scope.agents.evidence.cases import symptom_entities
from elixir_scope.agents.evidence.diag_flow import shape
from elixir_scope.agents.evidence.stated import stated_values
from elixir_scope.instrument.etf import Atom
from support.fact_recording import record_view

APP = r'''
defmodule Sky.Catalog do
  def station("Paranal"), do: %{name: "Paranal", lat: -24}
  def station("Kitt Peak"), do: %{name: "Kitt Peak", lat: 32}
  def station("La Silla"), do: %{name: "La Silla", lat: -29}

  def objects(%{lat: lat}) when lat < 0,
    do: [%{id: "NGC 104", dec: -72}, %{id: "NGC 5139", dec: -47}, %{id: "NGC 6752", dec: -60}]

  def objects(_), do: [%{id: "M 31", dec: 41}, %{id: "M 42", dec: -5}, %{id: "M 13", dec: 36}]
end

defmodule Sky.Visibility do
  # what a station sees above the horizon: the latitude taken without its sign, so a southern
  # station's window is the northern one's
  def visible(station, objects) do
    lat = abs(station.lat)
    Enum.filter(objects, fn o -> o.dec >= lat - 60 and o.dec <= lat + 60 end)
  end

  def visible_right(station, objects) do
    Enum.filter(objects, fn o -> o.dec >= station.lat - 60 and o.dec <= station.lat + 60 end)
  end
end

defmodule Sky.Planner do
  def tonight(name) do
    station = Sky.Catalog.station(name)
    Sky.Visibility.visible(station, Sky.Catalog.objects(station))
  end

  def tonight_right(name) do
    station = Sky.Catalog.station(name)
    Sky.Visibility.visible_right(station, Sky.Catalog.objects(station))
  end
end

defmodule Sky.Service do
  # the next mirror cleaning: a week counted as five days
  def next_cleaning(from, weeks), do: Date.add(from, weeks * 5)
  def next_cleaning_right(from, weeks), do: Date.add(from, weeks * 7)
end

defmodule Sky.Proposals do
  # an observing proposal's number read as an integer ("00731" becomes 731); a key made canonical
  def parse(%{"number" => n} = form), do: %{form | "number" => String.to_integer(n)}
  def parse_right(form), do: form
  def key(name), do: name |> :unicode.characters_to_nfc_binary() |> String.downcase()
end

defmodule Sky.Observers do
  # an observer's account key: trimmed, not case-folded; the twin folds the case
  def key(email), do: String.trim(email)
  def key_right(email), do: email |> String.trim() |> String.downcase()
end

defmodule Sky.Timing do
  # a night's exposure time kept as a time of day: past 24 hours it wraps around
  def exposure(from, to), do: Time.add(~T[00:00:00], DateTime.diff(to, from, :second))
  def exposure_right(from, to), do: DateTime.diff(to, from, :second)
end

defmodule Sky do
  def start, do: {:ok, spawn(fn -> Process.sleep(:infinity) end)}

  def run do
    for name <- ["Paranal", "Kitt Peak"] do
      Sky.Planner.tonight(name)
      Sky.Planner.tonight_right(name)
    end

    form = %{"number" => "00731", "pi" => "Zoë Ng", "cycle" => "2027A"}
    Sky.Proposals.parse(form)
    Sky.Proposals.parse_right(form)
    Sky.Proposals.key("Zoë Ng")
    for email <- ["Ada.Ng@Obs.example", "ada.ng@obs.example ", "bo.li@obs.example"] do
      Sky.Observers.key(email)
      Sky.Observers.key_right(email)
    end

    Sky.Timing.exposure(~U[2027-03-01 18:00:00Z], ~U[2027-03-02 19:12:30Z])
    Sky.Timing.exposure_right(~U[2027-03-01 18:00:00Z], ~U[2027-03-02 19:12:30Z])
    Sky.Service.next_cleaning(~D[2027-02-26], 4)
    Sky.Service.next_cleaning_right(~D[2027-02-26], 4)
    :ok
  end
end
'''

SPECS = ["Sky :: return", "Sky.Catalog :: return", "Sky.Timing :: return", "Sky.Visibility :: return", "Sky.Planner :: return",
         "Sky.Service :: return", "Sky.Proposals :: return", "Sky.Observers :: return"]

# what an observer would write: the failing station and the one that is right
EMPTY_PLAN = ("the observing plan for Paranal is empty every night, no targets at all, although the southern sky "
              "is clear. The plan for Kitt Peak is fine.")
CLEANING = ("the last mirror cleaning was on 26 February 2027 and for the next one (every four weeks) the planner "
            "shows 18 March, ten days too early")


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("diag_flow"), APP, start="Sky.start()", run="Elixir.Sky", specs=SPECS)


def _facts(view, symptom, kind):
    book = build_facts(view, symptom)
    assert not book.errors, book.errors
    return book.of_kind(kind)


def test_diverges_on_failing_names_the_deepest_function_that_parts_the_cases(view):
    facts = _facts(view, EMPTY_PLAN, "diverges_on_failing")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    # tonight/1 only passes visible/2's answer on; visible_right/2 answers both stations with a list
    assert (f.culprit.module, f.culprit.function) == ("Sky.Visibility", "visible/2"), f.title
    # the filter inside visible/2 is where they part: false for every southern object, true for the others
    assert "with false, the others with true" in f.title and "paranal" in f.summary and "kitt peak" in f.summary
    assert f.weak and f.signatures == ["data:diverges_on_failing"]
    assert all("visible_right" not in e.summary for e in f.evidence)


def test_diverges_on_failing_takes_an_emphatic_did_as_the_passing_case(view):
    # "Kitt Peak did get its targets" says Kitt Peak went right: without it both stations would be failing
    did = "the observing plan for Paranal is empty every night; the plan for Kitt Peak did get its targets"
    facts = _facts(view, did, "diverges_on_failing")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Sky.Visibility", "visible/2")]
    assert "paranal" in facts[0].summary and "kitt peak" in facts[0].summary
    never = "the observing plan for Paranal is empty every night; the plan for Kitt Peak never got its targets either"
    assert _facts(view, never, "diverges_on_failing") == []


def test_diverges_on_failing_is_silent_when_the_cases_are_not_in_the_recording(view):
    unknown = "the observing plan for La Palma is empty every night. The plan for Mauna Kea is fine."
    swapped = "the plan for Kitt Peak and the plan for Paranal both look fine, as before"
    for symptom in (unknown, swapped, "the observing plans look odd"):
        assert _facts(view, symptom, "diverges_on_failing") == [], symptom


def test_value_origin_follows_a_date_stated_in_words(view):
    facts = _facts(view, CLEANING, "value_origin")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Sky.Service", "next_cleaning/2")]
    assert "--03-18" in facts[0].title
    # the same day said as when something happened is context, not what came out
    when = "the mirror was cleaned on 26 February 2027, and on 18 March the dome would not open"
    assert _facts(view, when, "value_origin") == []


def test_value_origin_follows_a_time_the_symptom_says_is_shown(view):
    # "is shown … with 01:12:30" says the time came out: followed to the call that made it
    shown = "the 25-hour exposure of the Andromeda field is shown with 01:12:30 on the night log"
    facts = _facts(view, shown, "value_origin")
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Sky.Timing", "exposure/2")]
    # a time after "at" says when something happened, not what came out: not followed
    when = "at 01:12:30 the night log of the Andromeda field stopped updating"
    assert _facts(view, when, "value_origin") == []


def test_value_altered_names_the_function_that_dropped_the_leading_zeros(view):
    symptom = "proposal 00731 by Zoë Ng was filed under the wrong cycle. The others are fine."
    facts = _facts(view, symptom, "value_altered")
    # parse_right/1 hands the number on as written, key/1 only makes the name canonical (case, NFC)
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Sky.Proposals", "parse/1")]
    assert "'00731'" in facts[0].title and "leading zeros dropped (731)" in facts[0].title
    assert facts[0].weak and facts[0].signatures == ["data:value_altered"]
    assert _facts(view, "proposal 00999 by Ada Ng was filed under the wrong cycle", "value_altered") == []


def test_spelled_apart_names_the_key_that_keeps_two_spellings(view):
    symptom = "observer Ada Ng booked telescope time twice this week, but her account shows no bookings"
    facts = _facts(view, symptom, "spelled_apart")
    # key_right/1 returned one text for both spellings
    assert [(f.culprit.module, f.culprit.function) for f in facts] == [("Sky.Observers", "key/1")]
    assert "'Ada.Ng@Obs.example' and 'ada.ng@obs.example'" in facts[0].title, facts[0].title
    assert not facts[0].weak
    # Bo Li has one spelling only; a case the recording never handled
    for other in ("observer Bo Li has no bookings", "observer Cy Oh has no bookings"):
        assert _facts(view, other, "spelled_apart") == [], other


def test_loss_is_information_lost_not_a_canonical_form():
    from elixir_scope.agents.evidence.altered import loss

    assert loss("01200", ["Paris"], {1200}) == "its leading zeros dropped (1200)"
    assert loss("Inês Gonçalves", ["ines goncalves"], set()) == "its accents stripped ('Ines Goncalves')"
    assert loss("Inês Gonçalves", ["inês gonçalves"], set()) is None   # lower case: canonical
    assert loss("Bellegarde-sur-Valserine", ["Bellegarde-sur-Va"], set()) == "cut short ('Bellegarde-sur-Va')"
    assert loss("01200", ["01200 Bellegarde"], {1200}) is None   # still there as written


def test_symptom_entities_part_failing_from_passing_clauses():
    e = symptom_entities("customers in Oslo (postcode 0150) get the wrong rate, while Bergen and Trondheim are fine; "
                         "the alarm for unit HX-204 was right")
    assert e.failing == ("oslo", "0150")
    assert e.passing == ("bergen", "trondheim", "hx-204")
    both = symptom_entities("Oslo is wrong. Oslo was right yesterday")
    assert "oslo" not in both.failing + both.passing
    assert symptom_entities("nothing works at all, the plans look odd").failing == ()
    # a contrast said with an emphatic "did", "went through", "rightly": those cases went right
    did = symptom_entities('VAN-1 and VAN-2 were refused with "no charger free"; VAN-3 and VAN-4 did get a charger')
    assert (did.failing, did.passing) == (("van-1", "van-2"), ("van-3", "van-4"))
    assert symptom_entities("order 4411 did not go through; 4412 went through").passing == ("4412",)
    assert symptom_entities("order 4411 never went through").passing == ()
    assert symptom_entities("Noah Becker is left out; Leon Richter is rightly left out").passing == ("leon richter",)


@pytest.mark.parametrize(("text", "expected"), [
    ("charged on 10 January, five days early", [("--01-10", "date", "seen"), ("five days", "count", "stated")]),
    ("signed up on 15 January 2026", [("2026-01-15", "date", "stated")]),
    ("it shows March 3rd, 2027 as the due date", [("2027-03-03", "date", "seen")]),
    ("pushes at 23:41 or 05:52", [("23:41", "time", "stated"), ("05:52", "time", "stated")]),
    ("the kiosk shows 7:05 pm", [("19:05", "time", "seen")]),
    ("Keller is shown first with 01:12:30", [("01:12", "time", "seen")]),
    ("on 31 April nothing", [("31 april", "count", "stated")]),   # no such date
    ("it said booked: 3 and shows: 17 rows", [("booked: 3", "count", "seen"), ("shows: 17", "count", "seen")]),
])
def test_dates_and_times_in_words(text, expected):
    assert [(v.text, v.kind, v.role) for v in stated_values(text)] == expected


def test_shape_is_coarse():
    assert shape(Atom("nil")) == "nil" and shape([]) == "[]" and shape([1]) == "list"
    assert shape((Atom("error"), Atom("x"))) == "error" and shape((Atom("ok"), -3)) == "ok:negative"
    assert shape(b"") == "empty text" and shape(b"a") == "text" and shape(0) == "zero"


async def test_report_names_a_suspect_when_no_root_cause_reaches_the_bar(tmp_path, kb_index_dir):
    """End to end: the divergence alone is weak, so the verdict stays below the bar — and the
    report still says where to look first, in its JSON and its Markdown."""
    from elixir_scope.agents.context import DiagnosisContext
    from elixir_scope.agents.graph import diagnose
    from elixir_scope.agents.report import render_markdown
    from elixir_scope.agents.state import DiagnosisInput
    from elixir_scope.instrument.dist import Node
    from elixir_scope.store import TraceStore
    from support.nodes import start_node

    src = tmp_path / "sky.ex"
    src.write_text(APP)
    node = start_node("elixir", elixir_files=[src], eval_code="{:ok, _} = Sky.start()")
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        ctx = DiagnosisContext(store=TraceStore.open(tmp_path / "diag.db"), conn=conn, dist_node=dist,
                               knowledge_dir=kb_index_dir)
        report = await diagnose(DiagnosisInput(symptom=EMPTY_PLAN, node=node.name, trigger="Sky.run()",
                                               seconds=1.0, max_rounds=1), ctx)
    finally:
        await dist.close()
        node.stop()
    md = render_markdown(report)
    assert report.verdict == "problems_found" and report.root_cause is None, md
    s = report.suspect
    assert s is not None and (s.culprit.module, s.culprit.function) == ("Sky.Visibility", "visible/2"), md
    assert s.confidence < 0.6 and s.detector == "diverges_on_failing"
    assert "Where to look first (low confidence)" in md and "**Suspect:** `Sky.Visibility.visible/2`" in md
    assert '"suspect"' in report.to_json()
