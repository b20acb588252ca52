defmodule UnheardPubsub do
  @moduledoc """
  Buggy example: a topic typo in a Registry-based pubsub. The mailer subscribes to
  `"orders:created"`, the order service publishes to `"order:created"`: every publish reaches
  no one and no error is raised.
  """

  def start do
    children = [
      {Registry, keys: :duplicate, name: UnheardPubsub.Bus},
      UnheardPubsub.Mailer,
      UnheardPubsub.Orders
    ]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :rest_for_one, name: UnheardPubsub.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end

defmodule UnheardPubsub.PubSub do
  @moduledoc "Topic pubsub over the duplicate-key Registry `UnheardPubsub.Bus`."

  @bus UnheardPubsub.Bus

  def subscribe(topic), do: Registry.register(@bus, topic, [])

  @doc "Send `{:event, topic, payload}` to every subscriber of `topic`. Always `:ok`."
  def publish(topic, payload) do
    Registry.dispatch(@bus, topic, fn entries ->
      for {pid, _} <- entries, do: send(pid, {:event, topic, payload})
    end)
  end
end

defmodule UnheardPubsub.Mailer do
  @moduledoc """
  Sends an order confirmation for every `"orders:created"` event.
  State: `%{sent: [order_id]}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [UnheardPubsub.PubSub]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def sent, do: GenServer.call(__MODULE__, :sent)

  @impl true
  def init([]) do
    {:ok, _} = UnheardPubsub.PubSub.subscribe("orders:created")
    {:ok, %{sent: []}}
  end

  @impl true
  def handle_info({:event, "orders:created", order}, state),
    do: {:noreply, %{state | sent: [order.id | state.sent]}}

  @impl true
  def handle_call(:sent, _from, state), do: {:reply, Enum.reverse(state.sent), state}
end

defmodule UnheardPubsub.Orders do
  @moduledoc "Creates orders and announces them. State: `%{next_id: n, orders: [order]}`."
  use GenServer

  @compile {:no_warn_undefined, [UnheardPubsub.PubSub]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def create(attrs), do: GenServer.call(__MODULE__, {:create, attrs})

  @impl true
  def init([]), do: {:ok, %{next_id: 1, orders: []}}

  @impl true
  def handle_call({:create, attrs}, _from, state) do
    order = Map.put(attrs, :id, state.next_id)
    # The bug: "order:created" — the mailer listens on "orders:created".
    :ok = UnheardPubsub.PubSub.publish("order:created", order)
    {:reply, {:ok, order.id}, %{state | next_id: state.next_id + 1, orders: [order | state.orders]}}
  end
end
