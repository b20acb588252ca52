defmodule Taxi.Driver do
  use GenServer

  def start_link(driver), do: GenServer.start_link(__MODULE__, driver, name: via(driver))

  def child_spec(driver), do: %{id: {__MODULE__, driver}, start: {__MODULE__, :start_link, [driver]}}

  def go_online(driver, zones), do: GenServer.call(via(driver), {:go_online, zones})
  def offers(driver), do: GenServer.call(via(driver), :offers)

  defp via(driver), do: {:via, Registry, {Taxi.Cabs, driver}}

  @impl true
  def init(driver), do: {:ok, %{driver: driver, zones: [], offers: []}}

  @impl true
  def handle_call({:go_online, zones}, _from, state) do
    Enum.each(zones, fn zone -> {:ok, _} = Registry.register(Taxi.Areas, zone, state.driver) end)
    {:reply, :ok, %{state | zones: zones}}
  end

  def handle_call(:offers, _from, state), do: {:reply, Enum.reverse(state.offers), state}

  @impl true
  def handle_info({:offer, ride, zone}, state) do
    {:noreply, %{state | offers: [{ride, zone} | state.offers]}}
  end
end

defmodule Taxi.Dispatch do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def request(zone, ride), do: GenServer.call(__MODULE__, {:request, zone, ride})

  @impl true
  def init([]), do: {:ok, %{rides: 0}}

  @impl true
  def handle_call({:request, zone, ride}, _from, state) do
    Registry.dispatch(Taxi.Areas, zone, fn entries ->
      Enum.each(entries, fn {pid, _driver} -> send(pid, {:offer, ride, zone}) end)
    end)

    {:reply, :ok, %{state | rides: state.rides + 1}}
  end
end
