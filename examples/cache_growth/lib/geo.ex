defmodule Geo do
  @moduledoc """
  Buggy example: a cache that only grows. `Geo.Resolver` caches upstream answers (about 2 KB
  each) in its state, keyed by the lookup's arguments — which include the per-request id that
  the web layer adds for logging. No lookup ever hits, nothing is evicted, and the resolver's
  memory (mostly binaries) grows with every request.
  """

  @compile {:no_warn_undefined, [Geo.Resolver, Geo.Upstream, Geo.Web]}

  def start do
    children = [Geo.Upstream, Geo.Resolver]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Geo.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a few seconds of traffic from 40 clients, in the background."
  def trigger do
    spawn(fn -> Geo.Web.traffic(1_600, 40) end)
    :ok
  end
end

defmodule Geo.Upstream do
  @moduledoc """
  Stands in for the paid geo-IP API: answers a country and a ~2 KB JSON-ish payload, and
  counts the requests it served (each one costs money). State: `%{requests: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def fetch(ip, lang), do: GenServer.call(__MODULE__, {:fetch, ip, lang})
  def requests, do: GenServer.call(__MODULE__, :requests)

  @impl true
  def init([]), do: {:ok, %{requests: 0}}

  @impl true
  def handle_call({:fetch, ip, lang}, _from, state) do
    country = Enum.at(["PT", "DE", "FR", "JP", "BR"], :erlang.phash2(ip, 5))
    payload = ~s({"ip":"#{ip}","country":"#{country}","lang":"#{lang}","asn":) <> String.duplicate("0", 2_000) <> "}"
    {:reply, %{country: country, payload: payload}, %{state | requests: state.requests + 1}}
  end

  def handle_call(:requests, _from, state), do: {:reply, state.requests, state}
end
