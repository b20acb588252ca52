defmodule Shop do
  @moduledoc """
  Buggy example: a failure caught and replaced by a default. `Shop.Checkout` prices the
  shipping of each order with `Shop.Carriers.rate/1`, which reads the parcel's size from the
  warehouse label. Bulky parcels carry their size in centimetres ("180cm"), which the rate
  table cannot parse; the checkout rescues the error and charges no shipping at all.
  """

  @compile {:no_warn_undefined, [Shop.Checkout]}

  def start do
    children = [Shop.Checkout]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Shop.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: three orders, one of them a standing desk."
  def trigger do
    spawn(fn ->
      Shop.Checkout.place("o-71", [{"usb cable", 9}], %{weight_g: 120, size: "12"})
      Shop.Checkout.place("o-72", [{"standing desk", 489}], %{weight_g: 31_000, size: "180cm"})
      Shop.Checkout.place("o-73", [{"monitor arm", 79}], %{weight_g: 4_200, size: "60"})
    end)

    :ok
  end
end
