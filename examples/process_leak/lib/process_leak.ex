defmodule ProcessLeak do
  @moduledoc """
  Buggy example: one process leaked per request. `ProcessLeak.Handler.handle/1` spawns a
  watchdog per request that waits for `{:done, id}`; the handler sends `{:finished, id}`, so
  the watchdog never matches, never times out, and lives forever.
  """

  def start do
    with {:ok, pid} <- Supervisor.start_link([ProcessLeak.Handler], strategy: :one_for_one, name: ProcessLeak.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end

defmodule ProcessLeak.Handler do
  @moduledoc """
  Handles requests and keeps per-request watchdogs meant to report requests that never finish.
  State: `%{handled: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def handle(request_id), do: GenServer.call(__MODULE__, {:handle, request_id})

  @doc "Handle `n` requests with ids `first..first+n-1`. Returns `:ok` when all are answered."
  def handle_many(n, first \\ 1), do: Enum.each(first..(first + n - 1)//1, &handle/1)

  @impl true
  def init([]), do: {:ok, %{handled: 0}}

  @impl true
  def handle_call({:handle, id}, _from, state) do
    watchdog = spawn(fn -> await_done(id) end)
    result = {:ok, id * 2}
    # The bug: the watchdog waits for {:done, id}; this sends {:finished, id}.
    send(watchdog, {:finished, id})
    {:reply, result, %{state | handled: state.handled + 1}}
  end

  @doc false
  def await_done(id) do
    receive do
      {:done, ^id} -> :ok
    end
  end
end
