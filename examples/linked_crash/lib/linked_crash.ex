defmodule LinkedCrash do
  @moduledoc """
  Buggy example: a linked helper's crash takes an innocent process down with it.
  `LinkedCrash.Collector` buffers metrics and keeps running totals; at start it `spawn_link`s
  a `LinkedCrash.Flusher` that drains the buffer every 100 ms and formats each value for the
  exporter. One gauge is reported as the string `"n/a"`; the flusher's arithmetic raises, and
  the link kills the collector too — its totals and its buffer are gone.
  """

  @compile {:no_warn_undefined, [LinkedCrash.Collector, LinkedCrash.Dashboard, LinkedCrash.Exporter]}

  def start do
    children = [LinkedCrash.Exporter, LinkedCrash.Collector, LinkedCrash.Dashboard]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: LinkedCrash.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a batch of samples from a request handler, with a cache gauge that has no value yet."
  def trigger do
    samples = for(n <- 1..5, do: {"http.requests", n}) ++
                [{"db.query_ms", 12.5}, {"cache.hit_ratio", "n/a"}, {"http.requests", 6}]
    LinkedCrash.Collector.record_all(samples)
  end
end
