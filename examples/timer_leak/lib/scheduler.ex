defmodule Sync.Scheduler do
  @moduledoc """
  Pulls from `Sync.Upstream` every `interval` ms. State: `%{interval: ms, timer: ref,
  cursor: n, syncs: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Sync.Upstream]}

  def start_link(interval), do: GenServer.start_link(__MODULE__, interval, name: __MODULE__)

  @doc "Change the sync interval (ms); takes effect at once."
  def set_interval(ms) when is_integer(ms) and ms > 0, do: GenServer.call(__MODULE__, {:set_interval, ms})

  def info, do: GenServer.call(__MODULE__, :info)

  @impl true
  def init(interval), do: {:ok, %{interval: interval, timer: schedule(interval), cursor: 0, syncs: 0}}

  @impl true
  def handle_call({:set_interval, ms}, _from, state) do
    # Takes effect at once: start the new schedule now.
    {:reply, :ok, %{state | interval: ms, timer: schedule(ms)}}
  end

  def handle_call(:info, _from, state), do: {:reply, Map.take(state, [:interval, :syncs]), state}

  @impl true
  def handle_info(:sync, state) do
    {:ok, cursor, _changes} = Sync.Upstream.pull(state.cursor)
    {:noreply, %{state | cursor: cursor, syncs: state.syncs + 1, timer: schedule(state.interval)}}
  end

  defp schedule(ms), do: Process.send_after(self(), :sync, ms)
end
