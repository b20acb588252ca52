defmodule LostUpdate do
  @moduledoc """
  Buggy example: a read-modify-write race on an ETS counter. `LostUpdate.Counter.increment/1`
  reads the count with `:ets.lookup/2` and writes `n + 1` with `:ets.insert/2`; when two
  processes interleave between the read and the write, one increment is lost.
  """

  def start do
    children = [LostUpdate.Store, {Task.Supervisor, name: LostUpdate.Tasks}]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: LostUpdate.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end

defmodule LostUpdate.Store do
  @moduledoc "Owns the public ETS table `:lost_update_counters`. State: the table name."
  use GenServer

  @table :lost_update_counters

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def table, do: @table

  @impl true
  def init([]) do
    :ets.new(@table, [:named_table, :public, :set, write_concurrency: true, read_concurrency: true])
    {:ok, @table}
  end
end

defmodule LostUpdate.Counter do
  @moduledoc "Page-view counters kept in `:lost_update_counters`."

  @table :lost_update_counters

  @doc "Add one to `key`. Not atomic: a read, some bookkeeping, then a write."
  def increment(key) do
    n =
      case :ets.lookup(@table, key) do
        [{^key, n}] -> n
        [] -> 0
      end

    note_view(key)
    :ets.insert(@table, {key, n + 1})
    :ok
  end

  def get(key) do
    case :ets.lookup(@table, key) do
      [{^key, n}] -> n
      [] -> 0
    end
  end

  def reset(key), do: :ets.insert(@table, {key, 0})

  # Bookkeeping between the read and the write; it lets the scheduler switch processes,
  # which is what opens the race window.
  defp note_view(_key), do: :erlang.yield()
end

defmodule LostUpdate.Load do
  @moduledoc """
  Concurrent traffic: `start(workers, per_worker)` resets `:page_views` and has `workers`
  tasks each call `Counter.increment(:page_views)` `per_worker` times. Returns at once;
  `result/0` is `:running` or `{:done, expected, actual}`.
  """

  @compile {:no_warn_undefined, [LostUpdate.Counter]}
  @table :lost_update_counters

  def start(workers, per_worker) do
    LostUpdate.Counter.reset(:page_views)
    :ets.delete(@table, :"$load")

    Task.Supervisor.start_child(LostUpdate.Tasks, fn ->
      LostUpdate.Tasks
      |> Task.Supervisor.async_stream_nolink(1..workers, fn _ -> bump(per_worker) end,
        max_concurrency: workers, timeout: :infinity)
      |> Stream.run()

      :ets.insert(@table, {:"$load", workers * per_worker})
    end)
  end

  def result do
    case :ets.lookup(@table, :"$load") do
      [{_, expected}] -> {:done, expected, LostUpdate.Counter.get(:page_views)}
      [] -> :running
    end
  end

  defp bump(n), do: for(_ <- 1..n, do: LostUpdate.Counter.increment(:page_views))
end
