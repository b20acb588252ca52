"""``unheard_pubsub`` when the topics differ only in a value that moves on, on a real node: a
screen registered for ``"hearings:2026-12-07"`` once, and the office publishes the next day's
hearings to ``"hearings:2026-12-08"``. The recording cannot tell a stale registration from a
wrong topic, so the fact is weak (a suspect, no verdict on the publisher). The twin: the
topics differ in spelling (``"hearing:…"``) — a plain mismatch, the fact keeps its strength."""

from __future__ import annotations

from pathlib import Path

from support.diagnose_once import diagnose_once

APP = '''
defmodule Hall do
  def start do
    children = [{Registry, keys: :duplicate, name: Hall.Bus}, Hall.Screen]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: Hall.Sup)
    Process.unlink(pid)
    {:ok, pid}
  end

  def trigger do
    Hall.Office.publish("2026-12-08", ["Price 10:00", "Turner 10:30"])
    Process.sleep(50)
    :ok
  end
end

defmodule Hall.Office do
  def publish(day, rows) do
    Registry.dispatch(Hall.Bus, "hearings:" <> day, fn entries ->
      for {pid, _} <- entries, do: send(pid, {:hearings, rows})
    end)
  end
end

defmodule Hall.Screen do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  @impl true
  def init([]) do
    {:ok, _} = Registry.register(Hall.Bus, TOPIC, [])
    {:ok, %{rows: []}}
  end
  @impl true
  def handle_info({:hearings, rows}, s), do: {:noreply, %{s | rows: rows}}
end
'''

SYMPTOM = "the screen outside the hall shows no hearings today"


async def _facts(tmp_path: Path, kb_index_dir, topic: str):
    return await diagnose_once(tmp_path, kb_index_dir, APP.replace("TOPIC", topic), app="Hall", symptom=SYMPTOM)


async def test_a_topic_that_differs_only_in_its_date_is_weak(tmp_path: Path, kb_index_dir):
    report, book = await _facts(tmp_path, kb_index_dir, '"hearings:2026-12-07"')
    found = book.of_kind("unheard_pubsub")
    assert len(found) == 1, [f.title for f in book.facts]
    assert found[0].weak and "hearings:2026-12-07" in found[0].weak, found[0].weak
    assert report.verdict != "root_cause_found" or report.root_cause.detector != "unheard_pubsub"


async def test_a_topic_spelled_otherwise_keeps_its_strength(tmp_path: Path, kb_index_dir):
    _, book = await _facts(tmp_path, kb_index_dir, '"hearing:2026-12-08"')
    found = book.of_kind("unheard_pubsub")
    assert len(found) == 1, [f.title for f in book.facts]
    assert found[0].weak is None, found[0].weak
