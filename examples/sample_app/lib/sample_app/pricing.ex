defmodule SampleApp.Pricing do
  @moduledoc "An Agent holding prices in cents, keyed by sku."
  use Agent

  @prices %{"apple" => 50, "pear" => 70, "plum" => 90, "fig" => 120}

  def start_link(_opts), do: Agent.start_link(fn -> @prices end, name: __MODULE__)

  def skus, do: @prices |> Map.keys() |> Enum.sort()

  def price(sku), do: Agent.get(__MODULE__, &Map.fetch(&1, sku))

  def set_price(sku, cents) when is_integer(cents) and cents >= 0,
    do: Agent.update(__MODULE__, &Map.put(&1, sku, cents))
end
