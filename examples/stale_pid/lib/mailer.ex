defmodule Notify.Mailer do
  @moduledoc """
  Delivers e-mail over an SMTP connection (simulated). The connection is recycled after
  `@per_connection` deliveries: the mailer stops normally and its supervisor starts a fresh
  one (`restart: :permanent`). State: `%{connection: ref, delivered: n, outbox: [{to, text}]}`.
  """
  use GenServer, restart: :permanent

  @per_connection 20

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def deliver(pid, to, text), do: GenServer.cast(pid, {:deliver, to, text})

  @doc "How many e-mails this mailer (since its last restart) delivered."
  def delivered, do: GenServer.call(__MODULE__, :delivered)

  @impl true
  def init([]), do: {:ok, %{connection: make_ref(), delivered: 0, outbox: []}}

  @impl true
  def handle_cast({:deliver, to, text}, state) do
    state = %{state | delivered: state.delivered + 1, outbox: Enum.take([{to, text} | state.outbox], 50)}

    if state.delivered >= @per_connection do
      {:stop, :normal, state}
    else
      {:noreply, state}
    end
  end

  @impl true
  def handle_call(:delivered, _from, state), do: {:reply, state.delivered, state}
end

defmodule Notify.Dispatcher do
  @moduledoc """
  Turns app events into e-mails: looks up the address and hands the message to the mailer.
  State: `%{mailer: pid, sent: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Notify.Mailer, Notify.Users]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def notify(user_id, text), do: GenServer.cast(__MODULE__, {:notify, user_id, text})
  def sent, do: GenServer.call(__MODULE__, :sent)

  @impl true
  def init([]) do
    # Looked up once: after the mailer restarts, this pid is dead.
    {:ok, %{mailer: Process.whereis(Notify.Mailer), sent: 0}}
  end

  @impl true
  def handle_cast({:notify, user_id, text}, state) do
    case Notify.Users.email(user_id) do
      nil ->
        {:noreply, state}

      to ->
        Notify.Mailer.deliver(state.mailer, to, text)
        {:noreply, %{state | sent: state.sent + 1}}
    end
  end

  @impl true
  def handle_call(:sent, _from, state), do: {:reply, state.sent, state}
end
