defmodule Taxi do
  @moduledoc """
  Buggy example: a subscriber registered twice. Each driver (`Taxi.Driver`, one process per
  driver under `Taxi.Drivers`, named in `Taxi.Cabs`) joins the zones it serves in the
  `Taxi.Areas` registry (duplicate keys); `Taxi.Dispatch` offers each ride to every driver of
  its zone. `go_online/2` registers the zones again every time a driver comes back online, so
  that driver gets every offer twice.
  """

  @compile {:no_warn_undefined, [Taxi.Driver, Taxi.Dispatch]}

  def start do
    children = [
      {Registry, keys: :unique, name: Taxi.Cabs},
      {Registry, keys: :duplicate, name: Taxi.Areas},
      {DynamicSupervisor, strategy: :one_for_one, name: Taxi.Drivers},
      Taxi.Dispatch
    ]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Taxi.Supervisor) do
      Process.unlink(pid)

      for {driver, zones} <- [{"D-17", ["harbour"]}, {"D-42", ["harbour", "old-town"]}] do
        {:ok, _} = DynamicSupervisor.start_child(Taxi.Drivers, {Taxi.Driver, driver})
        Taxi.Driver.go_online(driver, zones)
      end

      {:ok, pid}
    end
  end

  @doc "D-17 drops off the network and comes back online; then a ride is requested at the harbour."
  def trigger do
    spawn(fn ->
      Taxi.Driver.go_online("D-17", ["harbour"])
      Taxi.Dispatch.request("harbour", "R-301")
    end)

    :ok
  end
end
