defmodule FX do
  @moduledoc """
  Buggy example: a deferred reply that one path forgets. `FX.Rates.handle_call/3` asks the
  provider for a rate in a separate process and returns `{:noreply, state}`, keeping the
  caller's `from` in `pending`. The success path replies; the error path removes the pending
  entry and counts a failure, but never calls `GenServer.reply/2`: that caller waits until its
  call times out.
  """

  @compile {:no_warn_undefined, [FX.Rates, FX.Provider, FX.Checkout]}

  def start do
    children = [FX.Provider, FX.Rates, FX.Checkout]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: FX.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: three shoppers pay in three currencies at the same time."
  def trigger do
    for {order, cur} <- [{501, "EUR"}, {502, "JPY"}, {503, "XAU"}] do
      spawn(fn -> FX.Checkout.pay(order, 12_000, cur) end)
    end

    :ok
  end
end

defmodule FX.Provider do
  @moduledoc "The rate provider (a stand-in for an HTTP API): answers at once."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{"EUR" => 0.92, "JPY" => 151.3, "GBP" => 0.79} end, name: __MODULE__)

  def lookup(currency) do
    case Agent.get(__MODULE__, &Map.fetch(&1, currency)) do
      {:ok, rate} -> {:ok, rate}
      :error -> {:error, {:unknown_currency, currency}}
    end
  end
end

defmodule FX.Rates do
  @moduledoc "Converts amounts in cents of USD; one provider request per conversion."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def convert(cents, currency), do: GenServer.call(__MODULE__, {:convert, cents, currency}, 800)
  def stats, do: GenServer.call(__MODULE__, :stats)

  @impl true
  def init([]), do: {:ok, %{pending: %{}, done: 0, failures: 0}}

  @impl true
  def handle_call({:convert, cents, currency}, from, state) do
    ref = make_ref()
    me = self()
    spawn(fn -> send(me, {:rate, ref, FX.Provider.lookup(currency)}) end)
    {:noreply, %{state | pending: Map.put(state.pending, ref, {from, cents})}}
  end

  def handle_call(:stats, _from, state),
    do: {:reply, %{pending: map_size(state.pending), done: state.done, failures: state.failures}, state}

  @impl true
  def handle_info({:rate, ref, {:ok, rate}}, state) do
    {{from, cents}, pending} = Map.pop(state.pending, ref)
    GenServer.reply(from, {:ok, round(cents * rate)})
    {:noreply, %{state | pending: pending, done: state.done + 1}}
  end

  def handle_info({:rate, ref, {:error, _reason}}, state) do
    {:noreply, %{state | pending: Map.delete(state.pending, ref), failures: state.failures + 1}}
  end
end

defmodule FX.Checkout do
  @moduledoc "Records each order's outcome."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)

  def pay(order, cents, currency) do
    outcome =
      try do
        FX.Rates.convert(cents, currency)
      catch
        :exit, {:timeout, _} -> {:failed, :timeout}
      end

    Agent.update(__MODULE__, &Map.put(&1, order, outcome))
  end

  def orders, do: Agent.get(__MODULE__, & &1)
end
