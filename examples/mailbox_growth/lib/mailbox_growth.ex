defmodule MailboxGrowth do
  @moduledoc """
  Buggy example: a consumer slower than its producer. `MailboxGrowth.Producer` casts
  `{:index, event}` to `MailboxGrowth.Indexer` faster than the indexer handles them, so the
  indexer's mailbox (`message_queue_len`) grows without bound while the stream runs.
  """

  def start do
    children = [MailboxGrowth.Indexer, MailboxGrowth.Producer]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: MailboxGrowth.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end

defmodule MailboxGrowth.Indexer do
  @moduledoc """
  Indexes events. Each event costs a simulated 4 ms write (`persist/1`), so it handles at most
  ~250 events/s. State: `%{indexed: n, last_id: id}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def index(event), do: GenServer.cast(__MODULE__, {:index, event})
  def stats, do: GenServer.call(__MODULE__, :stats, 30_000)

  @impl true
  def init([]), do: {:ok, %{indexed: 0, last_id: nil}}

  @impl true
  def handle_cast({:index, event}, state) do
    persist(event)
    {:noreply, %{state | indexed: state.indexed + 1, last_id: event.id}}
  end

  @impl true
  def handle_call(:stats, _from, state), do: {:reply, state, state}

  # The slow part: one synchronous "disk write" per event, no batching.
  defp persist(_event), do: Process.sleep(4)
end

defmodule MailboxGrowth.Producer do
  @moduledoc """
  Emits events at a configurable rate (`stream/1`), in bursts every 10 ms, casting each to the
  indexer without any back-pressure. Stops by itself after `max_events` (default 20_000).
  State: `%{rate: per_s, sent: n, max: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [MailboxGrowth.Indexer]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Start streaming `rate` events per second (until `max_events`). Returns `:ok` at once."
  def stream(rate, max_events \\ 20_000), do: GenServer.call(__MODULE__, {:stream, rate, max_events})
  def stop_stream, do: GenServer.call(__MODULE__, :stop_stream)

  @impl true
  def init([]), do: {:ok, %{rate: 0, sent: 0, max: 0}}

  @impl true
  def handle_call({:stream, rate, max}, _from, state) do
    if state.rate == 0, do: send(self(), :burst)
    {:reply, :ok, %{state | rate: rate, max: max}}
  end

  def handle_call(:stop_stream, _from, state), do: {:reply, :ok, %{state | rate: 0}}

  @impl true
  def handle_info(:burst, %{rate: 0} = state), do: {:noreply, state}

  def handle_info(:burst, state) do
    n = min(max(div(state.rate, 100), 1), state.max - state.sent)

    for i <- 1..n//1 do
      MailboxGrowth.Indexer.index(%{id: state.sent + i, body: "event #{state.sent + i}"})
    end

    sent = state.sent + max(n, 0)

    if sent < state.max do
      Process.send_after(self(), :burst, 10)
      {:noreply, %{state | sent: sent}}
    else
      {:noreply, %{state | sent: sent, rate: 0}}
    end
  end
end
