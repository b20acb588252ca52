defmodule Feeds do
  @moduledoc """
  Buggy example: a supervisor with the wrong strategy. `Feeds.Supervisor` runs the session
  store, the feed fetcher and the cache under `:one_for_all`, although none depends on another.
  A malformed feed crashes the fetcher — recoverable by design, a restart — but the strategy
  also restarts `Feeds.Sessions`, and every logged-in user is logged out.
  """

  @compile {:no_warn_undefined, [Feeds.Supervisor, Feeds.Sessions, Feeds.Fetcher]}

  def start do
    with {:ok, pid} <- Feeds.Supervisor.start_link([]) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: users log in, feeds refresh, one partner feed has a broken line."
  def trigger do
    for user <- ["ada", "bob", "cy"], do: {:ok, _token} = Feeds.Sessions.login(user)
    :ok = Feeds.Fetcher.refresh("news", "Title A|https://a.example\nTitle B|https://b.example")
    :ok = Feeds.Fetcher.refresh("partner", "Deal of the day|https://p.example\nBroken line without a link")
    :ok
  end
end

defmodule Feeds.Supervisor do
  @moduledoc "The top supervisor: sessions, cache and fetcher."
  use Supervisor

  @compile {:no_warn_undefined, [Feeds.Sessions, Feeds.Cache, Feeds.Fetcher]}

  def start_link(arg), do: Supervisor.start_link(__MODULE__, arg, name: __MODULE__)

  @impl true
  def init(_arg) do
    children = [Feeds.Sessions, Feeds.Cache, Feeds.Fetcher]
    Supervisor.init(children, strategy: :one_for_all, max_restarts: 5, max_seconds: 10)
  end
end

defmodule Feeds.Sessions do
  @moduledoc "Logged-in users: `%{token => user}`. Sessions live only in this process."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def login(user), do: GenServer.call(__MODULE__, {:login, user})
  def user(token), do: GenServer.call(__MODULE__, {:user, token})
  def count, do: GenServer.call(__MODULE__, :count)

  @impl true
  def init([]), do: {:ok, %{}}

  @impl true
  def handle_call({:login, user}, _from, sessions) do
    token = Base.encode16(:crypto.strong_rand_bytes(8))
    {:reply, {:ok, token}, Map.put(sessions, token, user)}
  end

  def handle_call({:user, token}, _from, sessions), do: {:reply, Map.fetch(sessions, token), sessions}
  def handle_call(:count, _from, sessions), do: {:reply, map_size(sessions), sessions}
end
