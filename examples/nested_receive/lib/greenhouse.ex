defmodule Greenhouse do
  @moduledoc """
  Buggy example: a receive inside a callback that takes the server's own messages. The climate
  controller keeps the latest temperature of each bed (sensors `send` `{:reading, bed, celsius}`).
  A calibration (`handle_cast(:calibrate, _)`) moves every valve and waits for the valves' acks
  in `await_valves/1`, whose catch-all clause drops whatever else arrives meanwhile: readings
  sent during a calibration are lost and the dashboard keeps the old temperatures.
  """

  @compile {:no_warn_undefined, [Greenhouse.Controller, Greenhouse.Valves]}

  def start do
    children = [Greenhouse.Valves, Greenhouse.Controller]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Greenhouse.Supervisor) do
      Process.unlink(pid)
      for {bed, c} <- [{"north", 18.0}, {"south", 18.5}, {"east", 19.0}], do: send(Greenhouse.Controller, {:reading, bed, c})
      {:ok, pid}
    end
  end

  @doc "The 9:00 readings come in; the morning calibration starts right after the first one."
  def trigger do
    spawn(fn ->
      send(Greenhouse.Controller, {:reading, "south", 24.0})
      Greenhouse.Controller.calibrate()
      Process.sleep(5)
      send(Greenhouse.Controller, {:reading, "north", 31.5})
      send(Greenhouse.Controller, {:reading, "east", 29.0})
    end)

    :ok
  end
end
