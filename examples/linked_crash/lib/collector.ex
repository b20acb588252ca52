defmodule LinkedCrash.Collector do
  @moduledoc """
  Collects metric samples. State: `%{buffer: [{name, value}], totals: %{name => count},
  flusher: pid}`. The flusher is linked to it (not supervised on its own).
  """
  use GenServer

  @compile {:no_warn_undefined, [LinkedCrash.Flusher]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Record one sample of metric `name`."
  def record(name, value), do: GenServer.cast(__MODULE__, {:record, name, value})

  @doc "Record several `{name, value}` samples at once."
  def record_all(samples), do: GenServer.cast(__MODULE__, {:record_all, samples})

  @doc "How many samples were recorded per metric since the collector started."
  def totals, do: GenServer.call(__MODULE__, :totals)

  @doc "Take the buffered samples (the flusher calls this)."
  def drain, do: GenServer.call(__MODULE__, :drain)

  @impl true
  def init([]) do
    flusher = LinkedCrash.Flusher.start_link(100)
    {:ok, %{buffer: [], totals: %{}, flusher: flusher}}
  end

  @impl true
  def handle_cast({:record, name, value}, state), do: {:noreply, add(state, name, value)}

  def handle_cast({:record_all, samples}, state),
    do: {:noreply, Enum.reduce(samples, state, fn {name, value}, acc -> add(acc, name, value) end)}

  @impl true
  def handle_call(:totals, _from, state), do: {:reply, state.totals, state}
  def handle_call(:drain, _from, state), do: {:reply, Enum.reverse(state.buffer), %{state | buffer: []}}

  defp add(state, name, value) do
    totals = Map.update(state.totals, name, 1, &(&1 + 1))
    %{state | buffer: [{name, value} | state.buffer], totals: totals}
  end
end

defmodule LinkedCrash.Flusher do
  @moduledoc """
  Drains the collector every `interval` ms and hands formatted lines to the exporter.
  A plain process linked to the collector that started it.
  """

  @compile {:no_warn_undefined, [LinkedCrash.Collector, LinkedCrash.Exporter]}

  def start_link(interval), do: spawn_link(fn -> loop(interval) end)

  defp loop(interval) do
    Process.sleep(interval)
    lines = Enum.map(LinkedCrash.Collector.drain(), fn {name, value} -> "#{name} #{format_value(value)}" end)
    if lines != [], do: LinkedCrash.Exporter.export(lines)
    loop(interval)
  end

  @doc "A sample value as the exporter's text format wants it: a number with two decimals."
  def format_value(value), do: :erlang.float_to_binary(value / 1, decimals: 2)
end
