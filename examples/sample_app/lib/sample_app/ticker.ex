defmodule SampleApp.Ticker do
  @moduledoc """
  Periodic work driven by `handle_info(:tick, ...)`: every `interval_ms` (default 200) it tops
  up any sku whose stock fell below `low_water` and counts ticks in `SampleApp.Stats`.
  State: `%{interval_ms: ms, ticks: n, restocked: units}`.
  """
  use GenServer

  @low_water 100
  @top_up 400

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  def info, do: GenServer.call(__MODULE__, :info)

  @impl true
  def init(opts) do
    interval = Keyword.get(List.wrap(opts), :interval_ms, 200)
    schedule(interval)
    {:ok, %{interval_ms: interval, ticks: 0, restocked: 0}}
  end

  @impl true
  def handle_info(:tick, state) do
    restocked =
      for {sku, units} <- SampleApp.Inventory.all(), units < @low_water, reduce: 0 do
        acc ->
          SampleApp.Inventory.restock(sku, @top_up)
          acc + @top_up
      end

    SampleApp.Stats.incr(:ticks)
    schedule(state.interval_ms)
    {:noreply, %{state | ticks: state.ticks + 1, restocked: state.restocked + restocked}}
  end

  @impl true
  def handle_call(:info, _from, state), do: {:reply, state, state}

  defp schedule(ms), do: Process.send_after(self(), :tick, ms)
end
