defmodule NodeGone.Mailer do
  @moduledoc """
  Delivers e-mails (here: keeps them in its state). Runs on the mailer node.
  State: `[{to, subject}]`, newest first.
  """
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "The e-mails delivered so far (on `node`)."
  def delivered(node), do: GenServer.call({__MODULE__, node}, :delivered)

  @impl true
  def init([]), do: {:ok, []}

  @impl true
  def handle_cast({:deliver, to, subject}, sent), do: {:noreply, [{to, subject} | sent]}

  @impl true
  def handle_call(:delivered, _from, sent), do: {:reply, sent, sent}
end
