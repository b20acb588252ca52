defmodule Metrics do
  @moduledoc """
  Buggy example: a periodic timer with a wrong interval. `Metrics.Flusher` flushes buffered
  counters to `Metrics.Backend` every second. Reconfiguring the interval converts the
  milliseconds with the wrong unit, so the new interval is 0 ms: the flusher reschedules
  itself immediately, forever — a hot loop that burns a scheduler and floods the backend.
  """

  @compile {:no_warn_undefined, [Metrics.Flusher, Metrics.Backend, Metrics.Counter]}

  def start do
    children = [Metrics.Backend, Metrics.Counter, Metrics.Flusher]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Metrics.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: some traffic, then an operator tunes the flush interval to 500 ms."
  def trigger do
    for _ <- 1..20, do: Metrics.Counter.incr("http.requests")
    :ok = Metrics.Flusher.configure(flush_every_ms: 500)
    :ok
  end
end

defmodule Metrics.Counter do
  @moduledoc "Counters since the last flush. An Agent: `%{name => n}`."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)
  def incr(name), do: Agent.update(__MODULE__, &Map.update(&1, name, 1, fn n -> n + 1 end))
  def take, do: Agent.get_and_update(__MODULE__, fn counts -> {counts, %{}} end)
end

defmodule Metrics.Backend do
  @moduledoc "Stands in for the metrics service: counts the flushes it receives."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def push(counts), do: GenServer.cast(__MODULE__, {:push, counts})
  def pushes, do: GenServer.call(__MODULE__, :pushes)

  @impl true
  def init(n), do: {:ok, n}

  @impl true
  def handle_cast({:push, _counts}, n), do: {:noreply, n + 1}

  @impl true
  def handle_call(:pushes, _from, n), do: {:reply, n, n}
end
