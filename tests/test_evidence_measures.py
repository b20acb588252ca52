"""A measurement the symptom states ("180 degrees", "82 kg") is a value of any number field, not
a number of things (agents/evidence/stated.py, valuematch.py, provenance.py), on a real node: the
arithmetic mean of compass headings either side of north is 180, made by the helper given the
headings — not by the callback that shows its rounded result; a circular mean of the same
headings is silent."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Ms.Nav do
  def mean(hs), do: Enum.sum(hs) / length(hs)
  def mean_right(hs) do
    {x, y} = Enum.reduce(hs, {0.0, 0.0}, fn h, {x, y} -> r = h * :math.pi() / 180; {x + :math.cos(r), y + :math.sin(r)} end)
    d = :math.atan2(y, x) * 180 / :math.pi()
    if d < 0, do: d + 360, else: d
  end
end

defmodule Ms.Board do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def show(k, v), do: GenServer.cast(__MODULE__, {:show, k, v})
  def init(s), do: {:ok, s}
  def handle_cast({:show, k, v}, s), do: {:noreply, Map.put(s, k, v)}
end

defmodule Ms.Fleet do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)
  def publish(hs, right), do: GenServer.call(__MODULE__, {:publish, hs, right})
  def init(s), do: {:ok, s}
  def handle_call({:publish, hs, right}, _from, s) do
    Ms.Board.show(:heading, round(if right, do: Ms.Nav.mean_right(hs), else: Ms.Nav.mean(hs)))
    {:reply, :ok, s}
  end
end

defmodule Ms do
  def start do
    {:ok, p} = Ms.Board.start_link([])
    Process.unlink(p)
    {:ok, f} = Ms.Fleet.start_link([])
    Process.unlink(f)
    {:ok, p}
  end
end

defmodule Ms.Wrong do
  def run, do: Ms.Board.show(:heading, round(Ms.Nav.mean([350, 10, 355, 5])))
end

defmodule Ms.Right do
  def run, do: Ms.Board.show(:heading, round(Ms.Nav.mean_right([350, 10, 355, 5])))
end

defmodule Ms.Published do
  def run, do: Ms.Fleet.publish([350, 10, 355, 5], false)
end

defmodule Ms.PublishedRight do
  def run, do: Ms.Fleet.publish([350, 10, 355, 5], true)
end
'''

SPECS = ["Ms :: return", "Ms.Nav :: return", "Ms.Board :: return", "Ms.Fleet :: return", "Ms.Wrong :: return",
         "Ms.Right :: return", "Ms.Published :: return", "Ms.PublishedRight :: return"]
# the helper module left out of the capture (a plan that traced the processes only)
UNTRACED = [s for s in SPECS if not s.startswith("Ms.Nav ")]
SYMPTOM = "the race board shows the fleet's mean heading as 180 degrees although all four boats sail close to north"


def _origins(view, *, weak=False):
    book = build_facts(view, SYMPTOM)
    assert not book.errors, book.errors
    return [(f.culprit.module, f.culprit.function, f.confidence) + ((bool(f.weak),) if weak else ())
            for f in book.of_kind("value_origin")]


@pytest.fixture(scope="module")
def wrong(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("measure"), APP, start="Ms.start()", run="Elixir.Ms.Wrong", specs=SPECS)


@pytest.fixture(scope="module")
def right(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("measure_right"), APP, start="Ms.start()", run="Elixir.Ms.Right", specs=SPECS)


def test_a_measurement_is_followed_to_the_helper_that_computed_it(wrong):
    # a float 180.0 from four headings (a list of 4: no accumulation of 180 things); the board's
    # callback was given it (rounded) and only kept it
    assert _origins(wrong) == [("Ms.Nav", "mean/1", 0.72)]


def test_the_right_mean_is_silent(right):
    assert _origins(right) == []


@pytest.fixture(scope="module")
def untraced(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("measure_untraced"), APP, start="Ms.start()", run="Elixir.Ms.Published",
                       specs=UNTRACED)


@pytest.fixture(scope="module")
def untraced_right(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("measure_untraced_right"), APP, start="Ms.start()",
                       run="Elixir.Ms.PublishedRight", specs=UNTRACED)


def test_with_the_helper_untraced_the_sender_is_where_to_look_not_the_process_that_shows_it(untraced):
    # no recorded call returned 180; the board received it from the fleet's callback, which was
    # not given it: that callback (or what it calls) made it — weakly, a suspect, not a verdict
    assert _origins(untraced, weak=True) == [("Ms.Fleet", "handle_call/3", 0.5, True)]


def test_with_the_helper_untraced_a_right_value_is_silent(untraced_right):
    assert _origins(untraced_right) == []
