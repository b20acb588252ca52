defmodule PriceBook do
  @moduledoc """
  Buggy example: an ETS table owned by a short-lived process. The price table
  `:price_book` is created by `PriceBook.Table` at boot. The nightly refresh
  (`PriceBook.Refresher.refresh/1`) rebuilds it off the server process in a `Task`, swapping the
  new table in under the same name — so the new table belongs to the task, and disappears the
  moment the task ends. Every quote afterwards crashes with `ArgumentError`.
  """

  @compile {:no_warn_undefined, [PriceBook.Table, PriceBook.Quotes, PriceBook.Refresher]}

  def start do
    children = [PriceBook.Table, PriceBook.Quotes, PriceBook.Refresher]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: PriceBook.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: the nightly refresh with a new price list, then a few quotes."
  def trigger do
    :ok = PriceBook.Refresher.refresh(%{"tea" => 420, "mug" => 1290, "pen" => 180, "lamp" => 3490})
    Process.sleep(50)
    spawn(fn -> for sku <- ["tea", "pen"], do: PriceBook.Quotes.quote(sku, 2) end)
    :ok
  end
end

defmodule PriceBook.Table do
  @moduledoc """
  Owns the named, public ETS table `:price_book` (`{sku, cents}`), filled with the launch
  prices. Readers go straight to the table.
  """
  use GenServer

  @launch_prices %{"tea" => 400, "mug" => 1200, "pen" => 150}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "The price of `sku` in cents, or `nil`."
  def price(sku) do
    case :ets.lookup(:price_book, sku) do
      [{^sku, cents}] -> cents
      [] -> nil
    end
  end

  @impl true
  def init([]) do
    table = :ets.new(:price_book, [:named_table, :public, :set, read_concurrency: true])
    :ets.insert(table, Map.to_list(@launch_prices))
    {:ok, table}
  end
end
