defmodule Shop do
  @moduledoc """
  Buggy example: a server that answers before its set-up is done. `Shop.Rates` keeps the
  exchange rates; its `init/1` fetches them in a linked process and returns at once with no
  rates. `Shop.Checkout` prices a basket in the customer's currency with `Shop.Rates.convert/2`,
  which leaves the amount as it is when it has no rate. Orders priced right after the rates
  server (re)starts are charged the euro amount in another currency.
  """

  @compile {:no_warn_undefined, [Shop.Rates, Shop.Checkout]}

  def start do
    children = [Shop.Rates, Shop.Checkout]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Shop.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "The nightly rates refresh restarts the rates server; two orders come in right after, one later."
  def trigger do
    spawn(fn ->
      :ok = Supervisor.terminate_child(Shop.Supervisor, Shop.Rates)
      {:ok, _} = Supervisor.restart_child(Shop.Supervisor, Shop.Rates)
      Shop.Checkout.place("O-881", [{"kettle", 4_900}, {"mug", 1_200}], "GBP")
      Shop.Checkout.place("O-882", [{"teapot", 3_500}], "CHF")
      Process.sleep(150)
      Shop.Checkout.place("O-883", [{"mug", 1_200}], "GBP")
    end)

    :ok
  end
end

defmodule Shop.Checkout do
  use GenServer

  @compile {:no_warn_undefined, [Shop.Rates]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def place(order, lines, currency), do: GenServer.call(__MODULE__, {:place, order, lines, currency})
  def orders, do: GenServer.call(__MODULE__, :orders)

  @impl true
  def init([]), do: {:ok, %{}}

  @impl true
  def handle_call({:place, order, lines, currency}, _from, orders) do
    euros = lines |> Enum.map(&elem(&1, 1)) |> Enum.sum()
    total = Shop.Rates.convert(euros, currency)
    {:reply, {:ok, total}, Map.put(orders, order, {total, currency})}
  end

  def handle_call(:orders, _from, orders), do: {:reply, orders, orders}
end
