defmodule NodeGone.Notifier do
  @moduledoc """
  Sends e-mails through the mailer on another node, and counts what it handed over.
  State: `%{mailer: pid, handed_over: non_neg_integer}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [NodeGone.Mailer]}

  def start_link(mailer_node), do: GenServer.start_link(__MODULE__, mailer_node, name: __MODULE__)

  @doc "Queue an e-mail for delivery."
  def notify(to, subject), do: GenServer.cast(__MODULE__, {:notify, to, subject})

  @doc "How many e-mails were handed over to the mailer."
  def handed_over, do: GenServer.call(__MODULE__, :handed_over)

  # The bug: the mailer's pid is looked up once, here, and kept. Nothing monitors it, so when
  # the mailer node goes away every later cast goes to a pid nobody will ever read.
  @impl true
  def init(mailer_node) do
    mailer = :rpc.call(mailer_node, Process, :whereis, [NodeGone.Mailer])
    {:ok, %{mailer: mailer, handed_over: 0}}
  end

  @impl true
  def handle_cast({:notify, to, subject}, state) do
    GenServer.cast(state.mailer, {:deliver, to, subject})
    {:noreply, %{state | handed_over: state.handed_over + 1}}
  end

  @impl true
  def handle_call(:handed_over, _from, state), do: {:reply, state.handed_over, state}
end
