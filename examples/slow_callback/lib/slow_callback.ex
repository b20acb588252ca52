defmodule SlowCallback do
  @moduledoc """
  Buggy example: a `handle_call` that is slow for one input. `SlowCallback.Reports` builds a
  customer report inside the server; for the big customer "acme" it walks 3000 orders one at a
  time (~1.5 s), so that caller — and everyone queued behind it — hits the 500 ms call timeout.
  """

  def start do
    with {:ok, pid} <- Supervisor.start_link([SlowCallback.Reports], strategy: :one_for_one, name: SlowCallback.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end

defmodule SlowCallback.Reports do
  @moduledoc """
  Customer reports. State: `%{orders: %{customer => order_count}, served: n}`.
  `report/1` waits at most 500 ms, as the web layer in front of it does.
  """
  use GenServer

  @orders %{"acme" => 3000, "globex" => 12, "initech" => 40}

  def start_link(_), do: GenServer.start_link(__MODULE__, @orders, name: __MODULE__)

  def report(customer), do: GenServer.call(__MODULE__, {:report, customer}, 500)

  @impl true
  def init(orders), do: {:ok, %{orders: orders, served: 0}}

  @impl true
  def handle_call({:report, customer}, _from, state) do
    count = Map.get(state.orders, customer, 0)
    total = load_history(customer, count)
    {:reply, {:ok, %{customer: customer, orders: count, total_cents: total}}, %{state | served: state.served + 1}}
  end

  # Per-row fetch: ~0.5 ms per order, in the server process. Fine for 40 orders, 1.5 s for 3000.
  defp load_history(_customer, count) do
    Enum.reduce(1..count//1, 0, fn i, acc ->
      if rem(i, 2) == 0, do: Process.sleep(1)
      acc + rem(i * 37, 1000)
    end)
  end
end
