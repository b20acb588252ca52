defmodule Inventory.Cache do
  @moduledoc """
  Stock levels as the shop front shows them. Fed by messages
  `{:stock_changed, %{sku: sku, qty: qty}}`. State: `%{levels: %{sku => qty}, updates: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def level(sku), do: GenServer.call(__MODULE__, {:level, sku})
  def updates, do: GenServer.call(__MODULE__, :updates)

  @impl true
  def init([]), do: {:ok, %{levels: %{"mug" => 10, "tea" => 20, "pen" => 200}, updates: 0}}

  @impl true
  def handle_call({:level, sku}, _from, state), do: {:reply, Map.get(state.levels, sku), state}
  def handle_call(:updates, _from, state), do: {:reply, state.updates, state}

  @impl true
  def handle_info({:stock_changed, %{sku: sku, qty: qty}}, state) do
    {:noreply, %{state | levels: Map.put(state.levels, sku, qty), updates: state.updates + 1}}
  end
end

defmodule Inventory.Sync do
  @moduledoc """
  Pushes warehouse changes to the shop's cache. State: `%{pushed: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def changed(sku, qty), do: GenServer.cast(__MODULE__, {:changed, sku, qty})
  def recounted(counts), do: GenServer.cast(__MODULE__, {:recounted, counts})

  @impl true
  def init([]), do: {:ok, %{pushed: 0}}

  @impl true
  def handle_cast({:changed, sku, qty}, state) do
    send(Inventory.Cache, {:stock_changed, %{sku: sku, qty: qty}})
    {:noreply, %{state | pushed: state.pushed + 1}}
  end

  def handle_cast({:recounted, counts}, state) do
    # Still the pre-refactor message shape.
    for {sku, qty} <- counts, do: send(Inventory.Cache, {:stock_changed, sku, qty})
    {:noreply, %{state | pushed: state.pushed + map_size(counts)}}
  end
end
