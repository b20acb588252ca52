defmodule Greenhouse.Controller do
  use GenServer

  @compile {:no_warn_undefined, [Greenhouse.Valves]}

  @valves [:vent_a, :vent_b, :mist_1, :mist_2]

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def calibrate, do: GenServer.cast(__MODULE__, :calibrate)
  def temperatures, do: GenServer.call(__MODULE__, :temperatures)

  @impl true
  def init([]), do: {:ok, %{temps: %{}, calibrations: 0}}

  @impl true
  def handle_call(:temperatures, _from, state), do: {:reply, state.temps, state}

  @impl true
  def handle_cast(:calibrate, state) do
    for v <- @valves, do: Greenhouse.Valves.move(self(), v)
    _missing = await_valves(length(@valves))
    {:noreply, %{state | calibrations: state.calibrations + 1}}
  end

  @impl true
  def handle_info({:reading, bed, celsius}, state) do
    {:noreply, %{state | temps: Map.put(state.temps, bed, celsius)}}
  end

  defp await_valves(0), do: 0

  defp await_valves(n) do
    receive do
      {:valve_ok, _valve} -> await_valves(n - 1)
      _ -> await_valves(n)
    after
      300 -> n
    end
  end
end

defmodule Greenhouse.Valves do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def move(reply_to, valve), do: GenServer.cast(__MODULE__, {:move, reply_to, valve})

  @impl true
  def init([]), do: {:ok, 0}

  @impl true
  def handle_cast({:move, reply_to, valve}, moved) do
    Process.sleep(4)
    send(reply_to, {:valve_ok, valve})
    {:noreply, moved + 1}
  end
end
