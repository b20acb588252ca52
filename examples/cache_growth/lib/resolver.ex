defmodule Geo.Resolver do
  @moduledoc """
  Resolves client IPs to countries, with a cache in front of the paid upstream.
  State: `%{cache: %{key => answer}, hits: n, misses: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Geo.Upstream]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "The country of `ip`. `opts`: `:lang` (default \"en\") and whatever the caller adds."
  def lookup(ip, opts \\ []), do: GenServer.call(__MODULE__, {:lookup, ip, opts})

  def stats, do: GenServer.call(__MODULE__, :stats)

  @impl true
  def init([]), do: {:ok, %{cache: %{}, hits: 0, misses: 0}}

  @impl true
  def handle_call({:lookup, ip, opts}, _from, state) do
    key = cache_key(ip, opts)

    case Map.fetch(state.cache, key) do
      {:ok, answer} ->
        {:reply, answer.country, %{state | hits: state.hits + 1}}

      :error ->
        answer = Geo.Upstream.fetch(ip, Keyword.get(opts, :lang, "en"))
        {:reply, answer.country, %{state | cache: Map.put(state.cache, key, answer), misses: state.misses + 1}}
    end
  end

  def handle_call(:stats, _from, state),
    do: {:reply, %{entries: map_size(state.cache), hits: state.hits, misses: state.misses}, state}

  @doc "The cache key: the IP and the lookup options."
  def cache_key(ip, opts), do: {ip, opts}
end

defmodule Geo.Web do
  @moduledoc "The web layer: every request resolves the client's country, tagged with a request id."

  @compile {:no_warn_undefined, [Geo.Resolver]}

  def handle_request(ip, request_id), do: Geo.Resolver.lookup(ip, lang: "en", request_id: request_id)

  @doc "Steady traffic: `n` requests from `clients` distinct IPs, four every 10 ms."
  def traffic(n, clients) do
    for id <- 1..n do
      handle_request("10.0.0.#{rem(id, clients) + 1}", id)
      if rem(id, 4) == 0, do: Process.sleep(10)
    end

    :ok
  end
end
