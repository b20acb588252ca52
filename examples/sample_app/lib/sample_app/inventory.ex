defmodule SampleApp.Inventory do
  @moduledoc "Units in stock per sku. State: `%{sku => units}`."
  use GenServer

  @initial %{"apple" => 500, "pear" => 500, "plum" => 500, "fig" => 500}

  def start_link(_opts), do: GenServer.start_link(__MODULE__, @initial, name: __MODULE__)

  def stock(sku), do: GenServer.call(__MODULE__, {:stock, sku})
  def all, do: GenServer.call(__MODULE__, :all)
  def reserve(sku, qty), do: GenServer.call(__MODULE__, {:reserve, sku, qty})
  def release(sku, qty), do: GenServer.cast(__MODULE__, {:release, sku, qty})
  def restock(sku, qty), do: GenServer.cast(__MODULE__, {:restock, sku, qty})

  @impl true
  def init(stock), do: {:ok, stock}

  @impl true
  def handle_call({:stock, sku}, _from, stock), do: {:reply, Map.get(stock, sku, 0), stock}
  def handle_call(:all, _from, stock), do: {:reply, stock, stock}

  def handle_call({:reserve, sku, qty}, _from, stock) do
    case Map.get(stock, sku, 0) do
      have when have >= qty -> {:reply, :ok, Map.put(stock, sku, have - qty)}
      _ -> {:reply, {:error, :out_of_stock}, stock}
    end
  end

  @impl true
  def handle_cast({:release, sku, qty}, stock), do: {:noreply, Map.update(stock, sku, qty, &(&1 + qty))}
  def handle_cast({:restock, sku, qty}, stock), do: {:noreply, Map.update(stock, sku, qty, &(&1 + qty))}
end
