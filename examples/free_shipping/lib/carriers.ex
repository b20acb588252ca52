defmodule Shop.Carriers do
  @moduledoc "The carrier's rate table: a price (in whole currency units) from a parcel's weight and longest side."

  @doc "Shipping price for a parcel `%{weight_g: grams, size: longest side in cm, as printed on the label}`."
  def rate(%{weight_g: grams, size: size}) do
    side = String.to_integer(size)
    base = if side > 100, do: 39, else: 4
    base + div(grams, 1_000)
  end
end
