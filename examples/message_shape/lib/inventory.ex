defmodule Inventory do
  @moduledoc """
  Buggy example: a message no clause handles, sent by another module. `Inventory.Cache`
  keeps stock levels for the shop front; `Inventory.Sync` pushes changes to it. After a
  refactor the cache's `handle_info/2` expects `{:stock_changed, %{sku: _, qty: _}}`, but the
  warehouse sync still sends the old three-element tuple for bulk updates. The cache crashes
  with a FunctionClauseError and restarts empty.
  """

  @compile {:no_warn_undefined, [Inventory.Cache, Inventory.Sync, Inventory.Warehouse]}

  def start do
    children = [Inventory.Warehouse, Inventory.Cache, Inventory.Sync]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Inventory.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a few single updates, then the nightly bulk update."
  def trigger do
    Inventory.Warehouse.receive_goods("mug", 5)
    Inventory.Warehouse.receive_goods("tea", 12)
    Process.sleep(50)
    Inventory.Warehouse.bulk_recount(%{"mug" => 40, "tea" => 7, "pen" => 300})
    :ok
  end
end

defmodule Inventory.Warehouse do
  @moduledoc "The warehouse's own stock. State: `%{sku => qty}`. Tells the sync about changes."
  use GenServer

  @compile {:no_warn_undefined, [Inventory.Sync]}

  def start_link(_), do: GenServer.start_link(__MODULE__, %{"mug" => 10, "tea" => 20, "pen" => 200}, name: __MODULE__)

  def receive_goods(sku, qty), do: GenServer.call(__MODULE__, {:receive, sku, qty})
  def bulk_recount(counts), do: GenServer.call(__MODULE__, {:recount, counts})
  def levels, do: GenServer.call(__MODULE__, :levels)

  @impl true
  def init(stock), do: {:ok, stock}

  @impl true
  def handle_call({:receive, sku, qty}, _from, stock) do
    stock = Map.update(stock, sku, qty, &(&1 + qty))
    Inventory.Sync.changed(sku, stock[sku])
    {:reply, :ok, stock}
  end

  def handle_call({:recount, counts}, _from, stock) do
    Inventory.Sync.recounted(counts)
    {:reply, :ok, Map.merge(stock, counts)}
  end

  def handle_call(:levels, _from, stock), do: {:reply, stock, stock}
end
