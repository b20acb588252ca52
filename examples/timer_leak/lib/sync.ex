defmodule Sync do
  @moduledoc """
  Buggy example: a periodic timer that is never cancelled. `Sync.Scheduler` pulls changes from
  an upstream every `interval` ms. Changing the interval starts a new timer chain without
  cancelling the running one, so after each change one more chain runs: the upstream gets
  several pulls per interval and the rate keeps climbing with every change.
  """

  @compile {:no_warn_undefined, [Sync.Scheduler, Sync.Upstream]}

  def start do
    children = [Sync.Upstream, {Sync.Scheduler, 200}]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Sync.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: an operator tries a few intervals in the admin panel, settling on 200 ms."
  def trigger do
    for ms <- [300, 250, 150, 200, 200], do: :ok = Sync.Scheduler.set_interval(ms)
    :ok
  end
end

defmodule Sync.Upstream do
  @moduledoc "Stands in for the remote API: counts pulls and returns a batch of changes."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def pull(since), do: GenServer.call(__MODULE__, {:pull, since})
  def pulls, do: GenServer.call(__MODULE__, :pulls)

  @impl true
  def init(n), do: {:ok, n}

  @impl true
  def handle_call({:pull, since}, _from, n), do: {:reply, {:ok, since + 1, []}, n + 1}
  def handle_call(:pulls, _from, n), do: {:reply, n, n}
end
