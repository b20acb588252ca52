defmodule OrderFlow do
  @moduledoc """
  Buggy example: a `gen_statem` drops an event in one state. Each order is a
  `OrderFlow.Order` state machine (`:placed` → `:paid` → `:shipped`, or `:cancelled`).
  Cancelling works in `:placed`; in `:paid` the cancel event falls through to a catch-all
  clause that keeps the state, so the refund is never issued and nothing is logged.
  """

  @compile {:no_warn_undefined, [OrderFlow.Order, OrderFlow.Refunds]}

  def start do
    children = [
      {Registry, keys: :unique, name: OrderFlow.Registry},
      {DynamicSupervisor, strategy: :one_for_one, name: OrderFlow.Orders},
      OrderFlow.Refunds
    ]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: OrderFlow.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Place an order; returns `{:ok, id}`."
  def place(id, amount) do
    with {:ok, _} <- DynamicSupervisor.start_child(OrderFlow.Orders, {OrderFlow.Order, {id, amount}}), do: {:ok, id}
  end

  def pay(id), do: OrderFlow.Order.pay(id)
  def cancel(id, reason), do: OrderFlow.Order.cancel(id, reason)
  def ship(id), do: OrderFlow.Order.ship(id)
  def status(id), do: OrderFlow.Order.status(id)

  @doc "Reproduce once: four orders; one cancelled before paying, one after paying."
  def trigger do
    for {id, amount} <- [{101, 2500}, {102, 1200}, {103, 990}, {104, 4300}], do: {:ok, _} = place(id, amount)
    :ok = pay(102)
    :ok = pay(103)
    :ok = ship(103)
    :ok = pay(104)
    cancel(101, "ordered twice")
    cancel(102, "changed my mind")
    :ok
  end
end
