"""Where the failing cases part from the right ones when a server decides (agents/evidence/diag_flow.py),
on a real node: a client function only passes on what the server's ``handle_call/3`` answered, so the
callback — not the client — is named, though no trace stack joins the two processes. The correct twin
server, given the same cases, answers them all alike and is never named."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import build_facts
from support.fact_recording import record_view

APP = r'''
defmodule Dock.Slots do
  use GenServer
  # a dock slot overlaps another when they only touch: closed intervals for half-open slots
  def start_link(name, strict), do: GenServer.start_link(__MODULE__, strict, name: name)
  def book(name, who, from, to), do: GenServer.call(name, {:book, who, from, to})
  def init(strict), do: {:ok, %{strict: strict, taken: [{9, 10}]}}
  def handle_call({:book, _who, from, to}, _from, s) do
    clash =
      Enum.any?(s.taken, fn {a, b} ->
        if s.strict, do: from < b and a < to, else: from <= b and a <= to
      end)
    if clash, do: {:reply, {:error, :taken}, s}, else: {:reply, {:ok, from}, s}
  end
end

defmodule Dock.SlotsRight do
  use GenServer
  # the twin: half-open slots, only a real overlap clashes
  def start_link(name, strict), do: GenServer.start_link(__MODULE__, strict, name: name)
  def book(name, who, from, to), do: GenServer.call(name, {:book, who, from, to})
  def init(strict), do: {:ok, %{strict: strict, taken: [{9, 10}]}}
  def handle_call({:book, _who, from, to}, _from, s) do
    clash =
      Enum.any?(s.taken, fn {a, b} ->
        if s.strict, do: from < b and a < to, else: from <= b and a <= to
      end)
    if clash, do: {:reply, {:error, :taken}, s}, else: {:reply, {:ok, from}, s}
  end
end

defmodule Dock do
  def start do
    {:ok, _} = Dock.Slots.start_link(Dock.Buggy, false)
    {:ok, _} = Dock.SlotsRight.start_link(Dock.Right, true)
    {:ok, self()}
  end

  def run do
    for {mod, name} <- [{Dock.Slots, Dock.Buggy}, {Dock.SlotsRight, Dock.Right}] do
      mod.book(name, "TRUCK-1", 8, 9)
      mod.book(name, "TRUCK-2", 10, 11)
      mod.book(name, "TRUCK-3", 11, 12)
      mod.book(name, "TRUCK-4", 12, 13)
    end
    :ok
  end
end
'''

SYMPTOM = ('TRUCK-1 (8-9) and TRUCK-2 (10-11) were refused a dock slot as taken, although only 9-10 is booked; '
           'TRUCK-3 and TRUCK-4 did get a slot')


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    return record_view(tmp_path_factory.mktemp("diag_flow_server"), APP, start="Dock.start()", run="Elixir.Dock",
                       specs=["Dock :: return", "Dock.Slots :: return", "Dock.SlotsRight :: return"],
                       state_modules=("Elixir.Dock.Slots", "Elixir.Dock.SlotsRight"))


def test_the_server_callback_is_named_not_the_client_that_passed_its_answer_on(view):
    book = build_facts(view, SYMPTOM)
    assert not book.errors, book.errors
    facts = book.of_kind("diverges_on_failing")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    assert (f.culprit.module, f.culprit.function) == ("Dock.Slots", "handle_call/3"), f.title
    assert f.culprit.process == "Dock.Buggy", f.culprit
    assert f.weak


def test_no_right_case_named_leaves_the_server_unnamed(view):
    # every truck failing and none right: the calls that named no case stand for the right ones — none here
    book = build_facts(view, "TRUCK-1, TRUCK-2, TRUCK-3 and TRUCK-4 were all refused a dock slot")
    assert [f for f in book.of_kind("diverges_on_failing") if f.culprit.function == "handle_call/3"] == []
