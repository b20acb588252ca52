defmodule Sessions.Sweeper do
  @moduledoc """
  Expires sessions not seen for `ttl_ms`, every 100 ms. State: `%{ttl: ms, sweeps: n, expired: n}`.
  """
  use GenServer

  def start_link(opts), do: GenServer.start_link(__MODULE__, Keyword.fetch!(opts, :ttl_ms), name: __MODULE__)

  def stats, do: GenServer.call(__MODULE__, :stats)

  @impl true
  def init(ttl) do
    Process.send_after(self(), :sweep, 100)
    {:ok, %{ttl: ttl, sweeps: 0, expired: 0}}
  end

  @impl true
  def handle_info(:sweep, state) do
    expired = sweep(System.monotonic_time(:millisecond) - state.ttl)
    Process.send_after(self(), :sweep, 100)
    {:noreply, %{state | sweeps: state.sweeps + 1, expired: state.expired + expired}}
  end

  @impl true
  def handle_call(:stats, _from, state), do: {:reply, state, state}

  @doc "Delete the sessions last seen before `cutoff_ms`; returns how many."
  def sweep(cutoff_ms) do
    :ets.select_delete(:web_sessions, [{{:_, :_, :"$1"}, [{:<, :"$1", cutoff_ms}], [true]}])
  end
end
