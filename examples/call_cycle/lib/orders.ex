defmodule CallCycle.Orders do
  @moduledoc """
  Takes orders and owns the catalogue of bundles (a bundle is a sku made of other skus).
  State: `%{orders: [order], bundles: %{sku => [{part_sku, qty}]}}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [CallCycle.Warehouse]}

  @bundles %{"gift_box" => [{"tea", 2}, {"mug", 1}]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Check out a list of `{sku, qty}`. Shoppers wait at most 1 s."
  def checkout(items), do: GenServer.call(__MODULE__, {:checkout, items}, 1_000)

  @doc "The parts of a bundle sku (`[]` for a plain sku)."
  def bundle_parts(sku), do: GenServer.call(__MODULE__, {:bundle_parts, sku}, 3_000)

  @impl true
  def init([]), do: {:ok, %{orders: [], bundles: @bundles}}

  @impl true
  def handle_call({:checkout, items}, _from, state) do
    case CallCycle.Warehouse.reserve(items) do
      :ok ->
        order = %{id: length(state.orders) + 1, items: items}
        {:reply, {:ok, order.id}, %{state | orders: [order | state.orders]}}

      {:error, _} = err ->
        {:reply, err, state}
    end
  end

  def handle_call({:bundle_parts, sku}, _from, state),
    do: {:reply, Map.get(state.bundles, sku, []), state}
end
