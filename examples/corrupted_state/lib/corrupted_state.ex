defmodule CorruptedState do
  @moduledoc """
  Buggy example: state corrupted by an earlier message, crash much later. A profile update
  with `%{email: nil}` is merged into the state unchecked; the next weekly digest — an
  unrelated call — crashes on `String.downcase(nil)`.
  """

  def start do
    with {:ok, pid} <- Supervisor.start_link([CorruptedState.Accounts], strategy: :one_for_one, name: CorruptedState.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a few normal updates, the bad one, more normal traffic, then the digest."
  def trigger do
    alias CorruptedState.Accounts
    Accounts.update_profile(1, %{name: "Ada L."})
    Accounts.update_profile(2, %{email: nil})
    Accounts.add_user(4, "Dan", "Dan@Example.com")
    _ = Accounts.get(3)
    spawn(fn -> Accounts.weekly_digest() end)
    :ok
  end
end

defmodule CorruptedState.Accounts do
  @moduledoc """
  User accounts. State: `%{users: %{id => %{name: String.t, email: String.t}}, version: n}`.
  """
  use GenServer

  @users %{
    1 => %{name: "Ada", email: "Ada@Example.com"},
    2 => %{name: "Bob", email: "bob@example.com"},
    3 => %{name: "Cy", email: "CY@example.com"}
  }

  def start_link(_), do: GenServer.start_link(__MODULE__, @users, name: __MODULE__)

  def add_user(id, name, email), do: GenServer.call(__MODULE__, {:add_user, id, name, email}, 1_000)
  def get(id), do: GenServer.call(__MODULE__, {:get, id}, 1_000)
  def update_profile(id, attrs), do: GenServer.cast(__MODULE__, {:update_profile, id, attrs})

  @doc "Normalised e-mail addresses of every user, for the weekly digest."
  def weekly_digest, do: GenServer.call(__MODULE__, :weekly_digest, 1_000)

  @impl true
  def init(users), do: {:ok, %{users: users, version: 0}}

  @impl true
  def handle_cast({:update_profile, id, attrs}, state) do
    # The bug: attrs are merged without validation, so `%{email: nil}` clears the e-mail.
    users = Map.update(state.users, id, attrs, &Map.merge(&1, attrs))
    {:noreply, %{state | users: users, version: state.version + 1}}
  end

  @impl true
  def handle_call({:add_user, id, name, email}, _from, state) do
    users = Map.put(state.users, id, %{name: name, email: email})
    {:reply, :ok, %{state | users: users, version: state.version + 1}}
  end

  def handle_call({:get, id}, _from, state), do: {:reply, Map.fetch(state.users, id), state}

  def handle_call(:weekly_digest, _from, state) do
    emails = for {_id, user} <- Enum.sort(state.users), do: String.downcase(user.email)
    {:reply, {:ok, emails}, state}
  end
end
