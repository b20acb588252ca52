"""Value provenance when one wrong value is made from another, on a real node.

The user reads a distance the app rounded for display (``286.68 km``) and a badge given for it
(``"ultra"``). The function that computed the distance returned the unrounded float
(``286.68240009…``) as the sum of the steps ``segment_km/2`` returned, each already wrong: that
function is where the stated number came out, and the badge — computed by
a process that was given that distance — is its effect, not a first cause of its own. The twin:
the distance is right (the user says so) and the badge process alone gets it wrong — the badge
stays the first cause."""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once

APP = '''
defmodule Club do
  def start do
    {:ok, pid} = Supervisor.start_link([Club.Badges], strategy: :one_for_one, name: Club.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    Club.Uploads.upload("ann", [0.0, 0.011, 0.023, 0.031, 0.045])
    Process.sleep(50)
    :ok
  end
end

defmodule Club.Geo do
  def distance_km(lons) do
    lons |> Enum.zip(tl(lons)) |> Enum.reduce(0.0, fn {a, b}, acc -> acc + segment_km(a, b) end)
  end

  def segment_km(a, b), do: abs(b - a) * 111.19 * FACTOR
end

defmodule Club.Uploads do
  def upload(member, lons), do: Club.Badges.add(member, Float.round(Club.Geo.distance_km(lons), 2))
end

defmodule Club.Badges do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def add(member, km), do: GenServer.cast(__MODULE__, {:add, member, km})
  @impl true
  def init([]), do: {:ok, %{}}
  @impl true
  def handle_cast({:add, member, km}, s) do
    badge = cond do
      km >= ULTRA -> "ultra"
      km >= 21.1 -> "half"
      true -> "finisher"
    end
    {:noreply, Map.put(s, member, {km, badge})}
  end
end
'''


def _distance(factor: float) -> float:
    """The distance Club.Geo computes (the same IEEE double arithmetic, in the same order)."""
    lons, d = [0.0, 0.011, 0.023, 0.031, 0.045], 0.0
    for a, b in zip(lons, lons[1:]):
        d = d + abs(b - a) * 111.19 * factor
    return d


async def _facts(tmp_path: Path, kb_index_dir, source: str, symptom: str):
    return await diagnose_once(tmp_path, kb_index_dir, source, app="Club", symptom=symptom)


async def test_a_badge_given_for_a_wrong_distance_is_the_distances_effect(tmp_path: Path, kb_index_dir):
    km = _distance(57.2958)   # degrees taken for radians: every step 57 times too long
    shown = f"{km:.2f}"
    assert len(repr(km).split(".")[1]) >= 6, repr(km)   # a float with more decimals than shown
    src = APP.replace("FACTOR", "57.2958").replace("ULTRA", "42.2")
    report, book = await _facts(tmp_path, kb_index_dir, src,
                                f'Ann\'s easy run of about 5 km shows as {shown} km in the app and she got the "ultra" badge')
    origins = {book.meta[f.id]["value"]: f for f in book.of_kind("value_origin")}
    assert shown in origins and "ultra" in origins, [f.title for f in book.facts]
    dist_fact = origins[shown]
    # distance_km/1 only adds up the steps segment_km/2 returned, each already 57 times too long:
    # the value is named where the wrong factor is (agents/evidence/parts.py)
    assert (dist_fact.culprit.module, dist_fact.culprit.function) == ("Club.Geo", "segment_km/2"), dist_fact.title
    assert origins["ultra"].caused_by == dist_fact.id, [(f.id, f.caused_by) for f in book.facts]
    assert report.root_cause is not None and report.root_cause.culprit.module == "Club.Geo"


async def test_a_badge_wrong_for_a_right_distance_stays_the_badges(tmp_path: Path, kb_index_dir):
    km = _distance(1.0)   # a right distance of a few km (no conversion needed in this toy geometry)
    shown = f"{km:.2f}"
    src = APP.replace("FACTOR", "1.0").replace("ULTRA", "4.2")   # the ultra threshold mistyped
    _, book = await _facts(tmp_path, kb_index_dir, src,
                           f'Ann ran {shown} km, and the app shows that right, but she got the "ultra" badge for it')
    origins = {book.meta[f.id]["value"]: f for f in book.of_kind("value_origin")}
    assert "ultra" in origins, [f.title for f in book.facts]
    assert origins["ultra"].caused_by is None, [(f.id, f.caused_by) for f in book.facts]
    assert origins["ultra"].culprit.module == "Club.Badges"
