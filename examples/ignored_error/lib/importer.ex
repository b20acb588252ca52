defmodule Ledger.Importer do
  @moduledoc """
  Imports payment CSVs into `Ledger.Store`. Amounts are meant to be cents; some banks export
  them in units with decimals. State: `%{imports: [{rows, imported}]}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Ledger.Store]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Import a CSV text. Returns `{:ok, imported_count}`."
  def import_csv(text), do: GenServer.call(__MODULE__, {:import, text})

  def history, do: GenServer.call(__MODULE__, :history)

  @impl true
  def init([]), do: {:ok, %{imports: []}}

  @impl true
  def handle_call({:import, text}, _from, state) do
    rows = parse(text)
    imported = store_all(rows)
    {:reply, {:ok, imported}, %{state | imports: [{length(rows), imported} | state.imports]}}
  end

  def handle_call(:history, _from, state), do: {:reply, Enum.reverse(state.imports), state}

  @doc "Parse `id,account,amount` lines (after the header) into row maps."
  def parse(text) do
    text
    |> String.split("\n", trim: true)
    |> Enum.drop(1)
    |> Enum.map(fn line ->
      [id, account, amount] = String.split(line, ",")
      %{id: String.to_integer(id), account: account, amount: parse_amount(amount)}
    end)
  end

  defp parse_amount(text) do
    case Integer.parse(text) do
      {cents, ""} -> cents
      _ -> String.to_float(if String.contains?(text, "."), do: text, else: text <> ".0")
    end
  end

  # Stores every row and returns how many were stored.
  defp store_all(rows) do
    Enum.each(rows, fn row -> Ledger.Store.insert(row) end)
    length(rows)
  end
end
