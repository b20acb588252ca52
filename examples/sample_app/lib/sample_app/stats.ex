defmodule SampleApp.Stats do
  @moduledoc """
  Owns the public ETS table `:sample_app_stats` (counters). Writers update it directly with
  `:ets.update_counter/4` (atomic), so the owner process only exists to keep the table alive.
  """
  use GenServer

  @table :sample_app_stats

  def start_link(_opts), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Atomically add `by` to counter `key`."
  def incr(key, by \\ 1), do: :ets.update_counter(@table, key, by, {key, 0})

  def get(key) do
    case :ets.lookup(@table, key) do
      [{^key, n}] -> n
      [] -> 0
    end
  end

  def all, do: Map.new(:ets.tab2list(@table))

  @doc "Reset every counter (a call, so it is serialised with the owner)."
  def reset, do: GenServer.call(__MODULE__, :reset)

  @impl true
  def init([]) do
    table = :ets.new(@table, [:named_table, :public, :set, write_concurrency: true])
    {:ok, %{table: table}}
  end

  @impl true
  def handle_call(:reset, _from, state) do
    :ets.delete_all_objects(@table)
    {:reply, :ok, state}
  end
end
