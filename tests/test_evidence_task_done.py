"""A task that finished is no child lost, on a real node: a job a ``Task.Supervisor`` started
(its children are ``:temporary``) ends ``:normal`` when its function returns, and the
``not_restarted`` fact it leaves is weak — it must not name a root cause over the facts that
explain the symptom. The twin: a ``:transient`` GenServer that stops ``:normal`` and is gone for
good keeps the fact at full strength."""

from __future__ import annotations

from support.diagnose_once import diagnose_once

APP = r'''
defmodule Offers do
  def start do
    children = [{Task.Supervisor, name: Offers.Jobs}, Offers.Mailer]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: Offers.Sup)
    Process.unlink(pid)
    {:ok, pid}
  end

  def run do
    MODE
    Process.sleep(300)
    :ok
  end

  def print(n), do: n * 2
end

defmodule Offers.Mailer do
  use GenServer, restart: :transient
  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)
  def init(:ok), do: {:ok, 0}
  def handle_cast(:sent, n) do
    Offers.print(n)
    {:stop, :normal, n + 1}
  end
end
'''

TASK = "Task.Supervisor.start_child(Offers.Jobs, fn -> Process.sleep(100); Offers.print(21) end)"
STOP = "GenServer.cast(Offers.Mailer, :sent)"
SYMPTOM = "offer letters stopped going out"


async def _book(tmp_path, kb_index_dir, mode):
    """Diagnose the app on a fresh node in one round (the plan and the supervisors as a diagnosis
    reads them); the facts of its recording."""
    report, book = await diagnose_once(tmp_path, kb_index_dir, APP.replace("MODE", mode), app="Offers",
                                       symptom=SYMPTOM, trigger="Offers.run()")
    return report, book


async def test_a_finished_task_is_a_weak_not_restarted(tmp_path, kb_index_dir):
    report, book = await _book(tmp_path, kb_index_dir, TASK)
    if not book.facts:
        # under a loaded CI a round once recorded nothing of the trigger at all (no fact of any
        # kind, so nothing about the weak flag this test is about): the same diagnosis once more
        again = tmp_path / "again"
        again.mkdir()
        report, book = await _book(again, kb_index_dir, TASK)
    found = book.of_kind("not_restarted")
    # when nothing is found, say what the round recorded (it once found no facts at all under load)
    assert found, ([(f.detector, f.title) for f in book.facts], report.to_json()[:3000])
    assert all(f.weak and "Task.Supervisor" in f.weak for f in found), [(f.title, f.weak) for f in found]


async def test_a_transient_server_that_stopped_is_a_full_not_restarted(tmp_path, kb_index_dir):
    _, book = await _book(tmp_path, kb_index_dir, STOP)
    found = [f for f in book.of_kind("not_restarted") if f.culprit.module == "Offers.Mailer"]
    assert found, [(f.detector, f.title) for f in book.facts]
    assert found[0].weak is None, found[0].weak
