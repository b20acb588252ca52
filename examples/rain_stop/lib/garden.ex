defmodule Garden do
  @moduledoc """
  Buggy example: `Process.exit(pid, :normal)` used to stop a worker. `Garden.Irrigation`
  waters a zone in a spawned process, one valve pulse at a time, metering the water in
  `Garden.Meter`; when the rain sensor reports rain it stops the run with
  `Process.exit(pid, :normal)` — which a process that does not trap exits ignores.
  """

  @compile {:no_warn_undefined, [Garden.Irrigation, Garden.Meter]}

  def start do
    children = [Garden.Meter, Garden.Irrigation]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Garden.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: the lawn starts watering, 50 ms later it starts to rain."
  def trigger do
    spawn(fn ->
      Garden.Irrigation.water("lawn", 8)
      Process.sleep(50)
      send(Garden.Irrigation, {:rain_sensor, :wet})
    end)

    :ok
  end
end

defmodule Garden.Meter do
  @moduledoc "Litres of water used, per zone."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)

  def add(zone, litres), do: Agent.update(__MODULE__, &Map.update(&1, zone, litres, fn l -> l + litres end))
  def used, do: Agent.get(__MODULE__, & &1)
end
