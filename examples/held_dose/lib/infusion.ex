defmodule Infusion do
  @moduledoc """
  Buggy example: a gen_statem event postponed forever. `Infusion.Pump` delivers one dose at a
  time: a dose ordered while it is `:dosing` is postponed until the pump is `:ready` again.
  When a dose is finished the pump clears the current dose but stays in `:dosing`
  (`keep_state`), so the postponed order is never retried.
  """

  @compile {:no_warn_undefined, [Infusion.Pump, Infusion.Chart]}

  def start do
    children = [Infusion.Chart, Infusion.Pump]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Infusion.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a saline dose, then (while it runs) an antibiotic dose."
  def trigger do
    spawn(fn ->
      Infusion.Pump.order("saline", 4)
      Process.sleep(15)
      Infusion.Pump.order("cefazolin", 2)
    end)

    :ok
  end
end

defmodule Infusion.Chart do
  @moduledoc "The patient's chart: doses given, in order."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> [] end, name: __MODULE__)

  def given(drug), do: Agent.update(__MODULE__, &(&1 ++ [drug]))
  def all, do: Agent.get(__MODULE__, & &1)
end
