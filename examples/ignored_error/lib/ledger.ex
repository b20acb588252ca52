defmodule Ledger do
  @moduledoc """
  Buggy example: an `{:error, _}` return that nobody looks at. `Ledger.Importer` parses a CSV
  of payments and stores each row with `Ledger.Store.insert/1`, which refuses amounts that are
  not whole cents. The importer ignores what `insert/1` returns and reports every row as
  imported: rows with decimal amounts silently disappear.
  """

  @compile {:no_warn_undefined, [Ledger.Store, Ledger.Importer]}

  def start do
    children = [Ledger.Store, Ledger.Importer]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Ledger.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @csv """
  id,account,amount
  1,acme,12000
  2,globex,4550
  3,initech,12.50
  4,acme,800
  5,umbrella,99.99
  6,globex,2500
  7,acme,15000
  8,initech,7.5
  9,hooli,3000
  10,acme,1200
  """

  @doc "Reproduce once: the monthly import, as the finance team runs it."
  def trigger, do: Ledger.Importer.import_csv(@csv)
end

defmodule Ledger.Store do
  @moduledoc """
  Payments by id. Amounts are integers (cents). State: `%{id => %{account, amount}}`.
  `insert/1` returns `:ok` or `{:error, reason}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def insert(row), do: GenServer.call(__MODULE__, {:insert, row})
  def count, do: GenServer.call(__MODULE__, :count)

  @doc "Total cents per account."
  def totals, do: GenServer.call(__MODULE__, :totals)

  @impl true
  def init([]), do: {:ok, %{}}

  @impl true
  def handle_call({:insert, %{id: id, account: account, amount: amount}}, _from, rows) do
    cond do
      Map.has_key?(rows, id) -> {:reply, {:error, {:duplicate, id}}, rows}
      not is_integer(amount) or amount < 0 -> {:reply, {:error, {:invalid_amount, amount}}, rows}
      true -> {:reply, :ok, Map.put(rows, id, %{account: account, amount: amount})}
    end
  end

  def handle_call(:count, _from, rows), do: {:reply, map_size(rows), rows}

  def handle_call(:totals, _from, rows) do
    totals = Enum.reduce(rows, %{}, fn {_id, r}, acc -> Map.update(acc, r.account, r.amount, &(&1 + r.amount)) end)
    {:reply, totals, rows}
  end
end
