defmodule CallCycle.Warehouse do
  @moduledoc """
  Stock per sku. Reserving a bundle reserves its parts, which it looks up in
  `CallCycle.Orders` — the call that closes the cycle (Orders → Warehouse → Orders).
  State: `%{sku => units}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [CallCycle.Orders]}

  @stock %{"tea" => 100, "mug" => 50, "pen" => 200}

  def start_link(_), do: GenServer.start_link(__MODULE__, @stock, name: __MODULE__)

  def reserve(items), do: GenServer.call(__MODULE__, {:reserve, items}, 3_000)
  def stock, do: GenServer.call(__MODULE__, :stock)

  @impl true
  def init(stock), do: {:ok, stock}

  @impl true
  def handle_call({:reserve, items}, _from, stock) do
    needed = Enum.flat_map(items, &expand/1)

    if Enum.all?(needed, fn {sku, qty} -> Map.get(stock, sku, 0) >= qty end) do
      {:reply, :ok, Enum.reduce(needed, stock, fn {sku, qty}, acc -> Map.update!(acc, sku, &(&1 - qty)) end)}
    else
      {:reply, {:error, :out_of_stock}, stock}
    end
  end

  def handle_call(:stock, _from, stock), do: {:reply, stock, stock}

  # The bug: a plain sku is known locally, but any other sku is looked up as a bundle in
  # Orders — which is blocked in `Orders.handle_call({:checkout, _}, ...)` waiting for us.
  defp expand({sku, qty}) do
    if Map.has_key?(@stock, sku) do
      [{sku, qty}]
    else
      for {part, n} <- CallCycle.Orders.bundle_parts(sku), do: {part, n * qty}
    end
  end
end
