defmodule LinkedCrash.Exporter do
  @moduledoc "Stands in for the metrics backend: keeps the last 100 exported lines."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def export(lines), do: GenServer.cast(__MODULE__, {:export, lines})
  def lines, do: GenServer.call(__MODULE__, :lines)

  @impl true
  def init([]), do: {:ok, []}

  @impl true
  def handle_cast({:export, lines}, kept), do: {:noreply, Enum.take(Enum.reverse(lines) ++ kept, 100)}

  @impl true
  def handle_call(:lines, _from, kept), do: {:reply, Enum.reverse(kept), kept}
end

defmodule LinkedCrash.Dashboard do
  @moduledoc "A healthy reader: every 200 ms copies the collector's totals for display."
  use GenServer

  @compile {:no_warn_undefined, [LinkedCrash.Collector]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def shown, do: GenServer.call(__MODULE__, :shown)

  @impl true
  def init([]) do
    Process.send_after(self(), :refresh, 200)
    {:ok, %{}}
  end

  @impl true
  def handle_info(:refresh, _shown) do
    Process.send_after(self(), :refresh, 200)
    {:noreply, LinkedCrash.Collector.totals()}
  end

  @impl true
  def handle_call(:shown, _from, shown), do: {:reply, shown, shown}
end
