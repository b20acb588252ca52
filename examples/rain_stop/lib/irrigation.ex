defmodule Garden.Irrigation do
  use GenServer

  @compile {:no_warn_undefined, [Garden.Meter]}

  @pulse_ms 25

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Water `zone` with `pulses` valve pulses of 5 litres."
  def water(zone, pulses), do: GenServer.cast(__MODULE__, {:water, zone, pulses})

  @doc "`%{zone => :watering | :stopped_by_rain | :done}`."
  def zones, do: GenServer.call(__MODULE__, :zones)

  @impl true
  def init([]), do: {:ok, %{runs: %{}, zones: %{}}}

  @impl true
  def handle_cast({:water, zone, pulses}, state) do
    me = self()
    pid = spawn(fn -> run(me, zone, pulses) end)
    {:noreply, %{state | runs: Map.put(state.runs, zone, pid), zones: Map.put(state.zones, zone, :watering)}}
  end

  @impl true
  def handle_info({:rain_sensor, :wet}, state) do
    for {_zone, pid} <- state.runs, do: Process.exit(pid, :normal)
    zones = Map.new(state.zones, fn {z, s} -> {z, if(s == :watering, do: :stopped_by_rain, else: s)} end)
    {:noreply, %{state | runs: %{}, zones: zones}}
  end

  def handle_info({:run_done, zone}, state) do
    zones = Map.update(state.zones, zone, :done, fn s -> if s == :watering, do: :done, else: s end)
    {:noreply, %{state | zones: zones}}
  end

  @impl true
  def handle_call(:zones, _from, state), do: {:reply, state.zones, state}

  defp run(owner, zone, pulses) do
    for _ <- 1..pulses do
      Process.sleep(@pulse_ms)
      Garden.Meter.add(zone, 5)
    end

    send(owner, {:run_done, zone})
  end
end
