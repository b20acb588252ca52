defmodule Metrics.Flusher do
  @moduledoc """
  Flushes `Metrics.Counter` to `Metrics.Backend` every `interval` ms.
  State: `%{interval: ms, timer: ref, flushes: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Metrics.Counter, Metrics.Backend]}

  def start_link(_), do: GenServer.start_link(__MODULE__, 1_000, name: __MODULE__)

  @doc "Change settings; `flush_every_ms:` the flush interval in milliseconds."
  def configure(opts), do: GenServer.call(__MODULE__, {:configure, opts})

  def info, do: GenServer.call(__MODULE__, :info)

  @impl true
  def init(interval), do: {:ok, %{interval: interval, timer: schedule(interval), flushes: 0}}

  @impl true
  def handle_call({:configure, opts}, _from, state) do
    # Takes effect at once: the pending flush is rescheduled with the new interval.
    interval = to_interval(Keyword.fetch!(opts, :flush_every_ms))
    Process.cancel_timer(state.timer)
    {:reply, :ok, %{state | interval: interval, timer: schedule(interval)}}
  end

  def handle_call(:info, _from, state), do: {:reply, Map.take(state, [:interval, :flushes]), state}

  @impl true
  def handle_info(:flush, state) do
    Metrics.Backend.push(Metrics.Counter.take())
    {:noreply, %{state | timer: schedule(state.interval), flushes: state.flushes + 1}}
  end

  defp schedule(ms), do: Process.send_after(self(), :flush, ms)

  @doc "The timer interval for a setting given in milliseconds."
  def to_interval(ms), do: System.convert_time_unit(ms, :millisecond, :second)
end
