defmodule Stock do
  @moduledoc """
  Buggy example: stock received centrally is spread over the warehouses in equal parts, each
  part `round(quantity / n)`. When `n` does not divide the quantity the parts do not add up:
  a unit too few (it is in no warehouse) or a unit too many (sold but never there). Nothing
  fails; only the weekly count differs from the receiving log.
  """

  @compile {:no_warn_undefined, [Stock.Receiving, Stock.Warehouse, Stock.Allocation, Stock.Counter]}

  @warehouses ["north", "south", "east"]

  def start do
    warehouses = for w <- @warehouses, do: Supervisor.child_spec({Stock.Warehouse, w}, id: {:warehouse, w})

    children =
      [{Registry, keys: :unique, name: Stock.Warehouses}, Stock.Receiving, Stock.Counter] ++ warehouses

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Stock.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  def warehouses, do: @warehouses

  @doc "Reproduce once: a morning's deliveries, then the counter runs."
  def trigger do
    for {sku, qty} <- [{"kettle", 300}, {"mug", 100}, {"lamp", 200}, {"chair", 60}, {"desk", 31}] do
      :ok = Stock.Receiving.receive_delivery(sku, qty)
    end

    Stock.Counter.count()
  end
end

defmodule Stock.Allocation do
  @moduledoc "How a delivery is spread over warehouses."

  @doc "`[{warehouse, units}]` for a delivery of `quantity` units."
  def spread(quantity, warehouses) when is_integer(quantity) and quantity >= 0 do
    per = round(quantity / length(warehouses))
    Enum.map(warehouses, &{&1, per})
  end
end

defmodule Stock.Receiving do
  @moduledoc "Logs every delivery and hands its units to the warehouses."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def receive_delivery(sku, qty), do: GenServer.call(__MODULE__, {:delivery, sku, qty})
  def received, do: GenServer.call(__MODULE__, :received)

  @impl true
  def init([]), do: {:ok, %{log: [], totals: %{}}}

  @impl true
  def handle_call({:delivery, sku, qty}, _from, state) do
    for {w, units} <- Stock.Allocation.spread(qty, Stock.warehouses()) do
      :ok = Stock.Warehouse.put(w, sku, units)
    end

    state = %{state | log: [{sku, qty} | state.log], totals: Map.update(state.totals, sku, qty, &(&1 + qty))}
    {:reply, :ok, state}
  end

  def handle_call(:received, _from, state), do: {:reply, state.totals, state}
end

defmodule Stock.Warehouse do
  @moduledoc "Units on the shelves of one warehouse, per SKU."
  use GenServer

  def start_link(name), do: GenServer.start_link(__MODULE__, name, name: via(name))
  def put(name, sku, units), do: GenServer.call(via(name), {:put, sku, units})
  def take(name, sku, units), do: GenServer.call(via(name), {:take, sku, units})
  def shelves(name), do: GenServer.call(via(name), :shelves)
  defp via(name), do: {:via, Registry, {Stock.Warehouses, name}}

  @impl true
  def init(name), do: {:ok, %{name: name, skus: %{}}}

  @impl true
  def handle_call({:put, sku, units}, _from, st),
    do: {:reply, :ok, %{st | skus: Map.update(st.skus, sku, units, &(&1 + units))}}

  def handle_call({:take, sku, units}, _from, st) do
    case Map.get(st.skus, sku, 0) do
      have when have >= units -> {:reply, :ok, %{st | skus: Map.put(st.skus, sku, have - units)}}
      have -> {:reply, {:error, {:only, have}}, st}
    end
  end

  def handle_call(:shelves, _from, st), do: {:reply, st.skus, st}
end

defmodule Stock.Counter do
  @moduledoc "The weekly count: what the warehouses hold against what was received."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def count, do: GenServer.call(__MODULE__, :count)
  def last, do: GenServer.call(__MODULE__, :last)

  @impl true
  def init([]), do: {:ok, nil}

  @impl true
  def handle_call(:count, _from, _last) do
    on_shelves =
      Stock.warehouses()
      |> Enum.map(&Stock.Warehouse.shelves/1)
      |> Enum.reduce(%{}, fn skus, acc -> Map.merge(acc, skus, fn _k, a, b -> a + b end) end)

    received = Stock.Receiving.received()
    diff = for {sku, qty} <- received, Map.get(on_shelves, sku, 0) != qty, into: %{}, do: {sku, Map.get(on_shelves, sku, 0) - qty}
    report = %{received: received, on_shelves: on_shelves, differences: diff}
    {:reply, report, report}
  end

  def handle_call(:last, _from, last), do: {:reply, last, last}
end
