defmodule SampleApp.Cart do
  @moduledoc """
  One shopping cart per user, started on demand under `SampleApp.CartSupervisor` and found
  through `SampleApp.CartRegistry`. State: `%{user: user, items: %{sku => qty}, checkouts: n}`.
  """
  use GenServer, restart: :transient

  # The files are required one by one (`elixir -r`) in path order, so these modules may be
  # compiled after this one; they are only called at run time.
  @compile {:no_warn_undefined, [SampleApp.Inventory, SampleApp.Pricing, SampleApp.Stats]}

  def start_link(user), do: GenServer.start_link(__MODULE__, user, name: via(user))

  defp via(user), do: {:via, Registry, {SampleApp.CartRegistry, user}}

  @doc "The cart of `user`, started if needed. Returns `{:ok, pid}`."
  def open(user) do
    case Registry.lookup(SampleApp.CartRegistry, user) do
      [{pid, _}] ->
        {:ok, pid}

      [] ->
        case DynamicSupervisor.start_child(SampleApp.CartSupervisor, {__MODULE__, user}) do
          {:ok, pid} -> {:ok, pid}
          {:error, {:already_started, pid}} -> {:ok, pid}
        end
    end
  end

  def add(user, sku, qty \\ 1), do: call(user, {:add, sku, qty})
  def remove(user, sku), do: call(user, {:remove, sku})
  def items(user), do: call(user, :items)
  def total(user), do: call(user, :total)
  def checkout(user), do: call(user, :checkout)

  @doc "Stop the cart of `user` (releasing nothing: items stay reserved until checkout)."
  def close(user) do
    case Registry.lookup(SampleApp.CartRegistry, user) do
      [{pid, _}] -> DynamicSupervisor.terminate_child(SampleApp.CartSupervisor, pid)
      [] -> {:error, :not_found}
    end
  end

  defp call(user, msg) do
    {:ok, pid} = open(user)
    GenServer.call(pid, msg)
  end

  @impl true
  def init(user), do: {:ok, %{user: user, items: %{}, checkouts: 0}}

  @impl true
  def handle_call({:add, sku, qty}, _from, state) do
    case SampleApp.Inventory.reserve(sku, qty) do
      :ok ->
        items = Map.update(state.items, sku, qty, &(&1 + qty))
        {:reply, :ok, %{state | items: items}}

      {:error, _} = err ->
        {:reply, err, state}
    end
  end

  def handle_call({:remove, sku}, _from, state) do
    case Map.pop(state.items, sku) do
      {nil, _} ->
        {:reply, {:error, :not_in_cart}, state}

      {qty, items} ->
        SampleApp.Inventory.release(sku, qty)
        {:reply, :ok, %{state | items: items}}
    end
  end

  def handle_call(:items, _from, state), do: {:reply, state.items, state}
  def handle_call(:total, _from, state), do: {:reply, total_of(state.items), state}

  def handle_call(:checkout, _from, state) do
    total = total_of(state.items)
    SampleApp.Stats.incr(:checkouts)
    SampleApp.Stats.incr(:revenue_cents, total)
    {:reply, {:ok, total}, %{state | items: %{}, checkouts: state.checkouts + 1}}
  end

  defp total_of(items) do
    Enum.reduce(items, 0, fn {sku, qty}, acc ->
      {:ok, price} = SampleApp.Pricing.price(sku)
      acc + price * qty
    end)
  end
end
