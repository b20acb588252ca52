defmodule Feeds.Cache do
  @moduledoc "Parsed feed entries by feed name. An Agent."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)
  def put(feed, entries), do: Agent.update(__MODULE__, &Map.put(&1, feed, entries))
  def get(feed), do: Agent.get(__MODULE__, &Map.get(&1, feed, []))
end

defmodule Feeds.Fetcher do
  @moduledoc """
  Parses feeds (`title|url` per line) into the cache. A malformed feed crashes it, by design:
  its supervisor restarts it clean. State: `%{refreshed: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Feeds.Cache]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Parse `body` as feed `name` and cache it (asynchronously)."
  def refresh(name, body), do: GenServer.cast(__MODULE__, {:refresh, name, body})

  def refreshed, do: GenServer.call(__MODULE__, :refreshed)

  @impl true
  def init([]), do: {:ok, %{refreshed: 0}}

  @impl true
  def handle_cast({:refresh, name, body}, state) do
    entries = body |> String.split("\n", trim: true) |> Enum.map(&parse_entry/1)
    Feeds.Cache.put(name, entries)
    {:noreply, %{state | refreshed: state.refreshed + 1}}
  end

  @impl true
  def handle_call(:refreshed, _from, state), do: {:reply, state.refreshed, state}

  defp parse_entry(line) do
    [title, url] = String.split(line, "|", parts: 2)
    %{title: String.trim(title), url: String.trim(url)}
  end
end
