defmodule CallCycle do
  @moduledoc """
  Buggy example: a GenServer call cycle. `CallCycle.Orders.checkout/1` calls
  `CallCycle.Warehouse` to reserve stock; for a bundle sku the warehouse asks `Orders` for the
  bundle's parts, with a `GenServer.call` — while `Orders` is still blocked in its own call to
  the warehouse. Both wait on each other; the shopper's call times out after 1 s.
  """

  @doc "Start the app unlinked from the caller. Returns `{:ok, supervisor_pid}`."
  def start do
    children = [CallCycle.Orders, CallCycle.Warehouse]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: CallCycle.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end
