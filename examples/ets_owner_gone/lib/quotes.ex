defmodule PriceBook.Quotes do
  @moduledoc """
  Answers price quotes for `qty` units of a sku, with a volume discount, and counts them.
  State: `%{quotes: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [PriceBook.Table]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def quote(sku, qty), do: GenServer.call(__MODULE__, {:quote, sku, qty}, 1_000)
  def count, do: GenServer.call(__MODULE__, :count)

  @impl true
  def init([]), do: {:ok, %{quotes: 0}}

  @impl true
  def handle_call({:quote, sku, qty}, _from, state) do
    reply =
      case PriceBook.Table.price(sku) do
        nil -> {:error, :unknown_sku}
        cents -> {:ok, discount(cents * qty, qty)}
      end

    {:reply, reply, %{state | quotes: state.quotes + 1}}
  end

  def handle_call(:count, _from, state), do: {:reply, state.quotes, state}

  defp discount(total, qty) when qty >= 10, do: div(total * 90, 100)
  defp discount(total, _qty), do: total
end

defmodule PriceBook.Refresher do
  @moduledoc """
  Loads new price lists. The rebuild runs in a task so a big list does not block the
  refresher. State: `%{refreshes: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Replace every price with `prices` (`%{sku => cents}`)."
  def refresh(prices), do: GenServer.call(__MODULE__, {:refresh, prices})

  @impl true
  def init([]), do: {:ok, %{refreshes: 0}}

  @impl true
  def handle_call({:refresh, prices}, _from, state) do
    {:ok, _task} = Task.start(fn -> rebuild(prices) end)
    {:reply, :ok, %{state | refreshes: state.refreshes + 1}}
  end

  @doc """
  Build the new table beside the old one and swap it in under the same name, so readers never
  see a half-filled table. The process running this owns the new table.
  """
  def rebuild(prices) do
    fresh = :ets.new(:price_book_next, [:named_table, :public, :set, read_concurrency: true])
    :ets.insert(fresh, Enum.map(prices, fn {sku, cents} -> {sku, cents} end))
    :ets.delete(:price_book)
    :ets.rename(fresh, :price_book)
    :ok
  end
end
