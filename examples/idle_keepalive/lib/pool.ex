defmodule Pool do
  @moduledoc """
  Buggy example: an idle timeout that a routine message cancels. Each `Pool.Conn` returns a
  500 ms timeout from its callbacks and closes itself when it fires. The health checker pings
  the replica's connections every 200 ms, and `handle_info(:health_check, state)` returns
  `{:noreply, state}` without the timeout: the replica's idle connections never close.
  """

  @compile {:no_warn_undefined, [Pool.Conn, Pool.Health, Pool.Stats]}

  def start do
    conns =
      for {db, n} <- [{"primary", 1}, {"primary", 2}, {"replica", 1}, {"replica", 2}] do
        Supervisor.child_spec({Pool.Conn, {db, n}}, id: {:conn, db, n})
      end

    children = [{Registry, keys: :unique, name: Pool.Conns}, Pool.Stats] ++ conns ++ [Pool.Health]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Pool.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a burst of queries on every connection, then the pool goes quiet."
  def trigger do
    for db <- ["primary", "replica"], n <- [1, 2], do: Pool.Conn.query({db, n}, "SELECT 1")
    :ok
  end
end

defmodule Pool.Stats do
  @moduledoc "Connections opened and closed."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{closed: []} end, name: __MODULE__)
  def closed(id), do: Agent.update(__MODULE__, &%{&1 | closed: [id | &1.closed]})
  def get, do: Agent.get(__MODULE__, & &1)
end

defmodule Pool.Conn do
  @moduledoc "One database connection (simulated); closes after @idle ms without a query."
  use GenServer

  @idle 500

  def start_link(id), do: GenServer.start_link(__MODULE__, id, name: via(id))
  def query(id, sql), do: GenServer.call(via(id), {:query, sql})
  def status(id), do: :sys.get_state(via(id)).status
  def via(id), do: {:via, Registry, {Pool.Conns, id}}

  @impl true
  def init(id), do: {:ok, %{id: id, status: :open, queries: 0, checks: 0}, @idle}

  @impl true
  def handle_call({:query, sql}, _from, state) do
    # a closed connection reconnects on demand
    {:reply, {:ok, [[String.length(sql)]]}, %{state | status: :open, queries: state.queries + 1}, @idle}
  end

  @impl true
  def handle_info(:timeout, %{status: :open} = state) do
    Pool.Stats.closed(state.id)
    {:noreply, %{state | status: :closed}}
  end

  def handle_info(:timeout, state), do: {:noreply, state}

  def handle_info(:health_check, state) do
    {:noreply, %{state | checks: state.checks + 1}}
  end
end

defmodule Pool.Health do
  @moduledoc "Pings the replica's connections (replication lag is watched there)."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @impl true
  def init([]) do
    :timer.send_interval(200, :tick)
    {:ok, %{rounds: 0}}
  end

  @impl true
  def handle_info(:tick, state) do
    for n <- [1, 2] do
      case Registry.lookup(Pool.Conns, {"replica", n}) do
        [{pid, _}] -> send(pid, :health_check)
        [] -> :ok
      end
    end

    {:noreply, %{state | rounds: state.rounds + 1}}
  end
end
