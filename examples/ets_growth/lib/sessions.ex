defmodule Sessions do
  @moduledoc """
  Buggy example: an ETS table that only grows. Web sessions live in the public ETS table
  `:web_sessions`; `Sessions.Sweeper` deletes expired ones every 100 ms. When sessions got a
  fourth field (the client's user agent), the sweeper's match pattern kept the old three-field
  shape: it matches nothing, no session ever expires, and the table (and the node's ETS
  memory) grows with every login.
  """

  @compile {:no_warn_undefined, [Sessions.Store, Sessions.Sweeper]}

  def start do
    children = [Sessions.Store, {Sessions.Sweeper, ttl_ms: 200}]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Sessions.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a few seconds of logins from many short visits, in the background."
  def trigger do
    spawn(fn ->
      for n <- 1..1_500 do
        Sessions.Store.login("user#{rem(n, 300)}", "Mozilla/5.0 (visit #{n})")
        if rem(n, 5) == 0, do: Process.sleep(10)
      end
    end)

    :ok
  end
end

defmodule Sessions.Store do
  @moduledoc """
  Owns the `:web_sessions` table: `{token, user, last_seen_ms, user_agent}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Start a session; returns its token."
  def login(user, agent) do
    token = Base.url_encode64(:crypto.strong_rand_bytes(12))
    :ets.insert(:web_sessions, {token, user, System.monotonic_time(:millisecond), agent})
    token
  end

  @doc "The user of a live session, or nil."
  def user(token) do
    case :ets.lookup(:web_sessions, token) do
      [{^token, user, _seen, _agent}] -> user
      [] -> nil
    end
  end

  def count, do: :ets.info(:web_sessions, :size)

  @impl true
  def init([]) do
    :ets.new(:web_sessions, [:named_table, :public, :set, write_concurrency: true])
    {:ok, nil}
  end
end
