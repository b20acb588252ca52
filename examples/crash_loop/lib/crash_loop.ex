defmodule CrashLoop do
  @moduledoc """
  Buggy example: a restart loop from bad configuration. `CrashLoop.Poller` re-reads its poll
  interval from the application environment on every poll; once someone sets it to the string
  `"500ms"`, the poller crashes, and every restart crashes again in `init/1`, until the
  supervisor gives up (`:reached_max_restart_intensity`) and exits — taking the heartbeat
  with it.
  """

  def start do
    Application.put_env(:crash_loop, :poll_interval, 100)
    children = [CrashLoop.Heartbeat, CrashLoop.Poller]
    opts = [strategy: :one_for_one, name: CrashLoop.Supervisor, max_restarts: 3, max_seconds: 5]

    with {:ok, pid} <- Supervisor.start_link(children, opts) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "What an operator does when 'tuning' the poller: a string where an integer belongs."
  def misconfigure, do: Application.put_env(:crash_loop, :poll_interval, "500ms")
end

defmodule CrashLoop.Poller do
  @moduledoc """
  Polls an upstream every `poll_interval` ms (application env `:crash_loop, :poll_interval`,
  an integer, or a string of digits). State: `%{interval: ms, polls: n}`.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @impl true
  def init([]) do
    interval = read_interval()
    Process.send_after(self(), :poll, interval)
    {:ok, %{interval: interval, polls: 0}}
  end

  @impl true
  def handle_info(:poll, state) do
    # Hot-reloads the interval on every poll.
    interval = read_interval()
    Process.send_after(self(), :poll, interval)
    {:noreply, %{state | interval: interval, polls: state.polls + 1}}
  end

  @doc "The configured interval in ms. Raises ArgumentError on a value like \"500ms\"."
  def read_interval do
    case Application.get_env(:crash_loop, :poll_interval, 1000) do
      ms when is_integer(ms) -> ms
      text when is_binary(text) -> String.to_integer(text)
    end
  end
end

defmodule CrashLoop.Heartbeat do
  @moduledoc "A healthy sibling: counts beats. State: `%{beats: n}`."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def beats, do: GenServer.call(__MODULE__, :beats)

  @impl true
  def init([]) do
    :timer.send_interval(100, :beat)
    {:ok, %{beats: 0}}
  end

  @impl true
  def handle_info(:beat, state), do: {:noreply, %{state | beats: state.beats + 1}}

  @impl true
  def handle_call(:beats, _from, state), do: {:reply, state.beats, state}
end
