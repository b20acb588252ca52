defmodule OrderFlow.Order do
  @moduledoc """
  One order as a state machine (state functions). Data: `%{id, amount, history: [event]}`.

      :placed  --pay-->  :paid  --ship-->  :shipped
      :placed  --cancel-->  :cancelled
      :paid    --cancel-->  :cancelled (+ refund)
  """
  @behaviour :gen_statem

  @compile {:no_warn_undefined, [OrderFlow.Refunds]}

  def child_spec({id, amount}) do
    %{id: {__MODULE__, id}, start: {__MODULE__, :start_link, [{id, amount}]}, restart: :transient}
  end

  def start_link({id, amount}), do: :gen_statem.start_link(via(id), __MODULE__, {id, amount}, [])

  def pay(id), do: :gen_statem.call(via(id), :pay, 1_000)
  def ship(id), do: :gen_statem.call(via(id), :ship, 1_000)
  def status(id), do: :gen_statem.call(via(id), :status, 1_000)
  def cancel(id, reason), do: :gen_statem.cast(via(id), {:cancel, reason})

  defp via(id), do: {:via, Registry, {OrderFlow.Registry, id}}

  @impl true
  def callback_mode, do: :state_functions

  @impl true
  def init({id, amount}), do: {:ok, :placed, %{id: id, amount: amount, history: [:placed]}}

  def placed({:call, from}, :pay, data),
    do: {:next_state, :paid, log(data, :paid), [{:reply, from, :ok}]}

  def placed(:cast, {:cancel, reason}, data),
    do: {:next_state, :cancelled, log(data, {:cancelled, reason})}

  def placed(event_type, event, data), do: common(event_type, event, :placed, data)

  def paid({:call, from}, :ship, data),
    do: {:next_state, :shipped, log(data, :shipped), [{:reply, from, :ok}]}

  # Written when cancel was a bare `:cancel`; `cancel/2` now sends `{:cancel, reason}`, which
  # lands in the catch-all below and is dropped.
  def paid(:cast, :cancel, data) do
    :ok = OrderFlow.Refunds.issue(data.id, data.amount)
    {:next_state, :cancelled, log(data, {:cancelled, :refunded})}
  end

  def paid(:cast, _ignored, _data), do: :keep_state_and_data
  def paid(event_type, event, data), do: common(event_type, event, :paid, data)

  def shipped(event_type, event, data), do: common(event_type, event, :shipped, data)
  def cancelled(event_type, event, data), do: common(event_type, event, :cancelled, data)

  defp common({:call, from}, :status, state, data), do: {:keep_state_and_data, [{:reply, from, {state, Enum.reverse(data.history)}}]}
  defp common({:call, from}, _other, state, _data), do: {:keep_state_and_data, [{:reply, from, {:error, {:not_allowed_in, state}}}]}
  defp common(_type, _event, _state, _data), do: :keep_state_and_data

  defp log(data, event), do: %{data | history: [event | data.history]}
end

defmodule OrderFlow.Refunds do
  @moduledoc "Issues refunds (to the payment provider, here: a list). State: `[{order_id, amount}]`."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def issue(order_id, amount), do: GenServer.call(__MODULE__, {:issue, order_id, amount})
  def issued, do: GenServer.call(__MODULE__, :issued)

  @impl true
  def init([]), do: {:ok, []}

  @impl true
  def handle_call({:issue, id, amount}, _from, done), do: {:reply, :ok, [{id, amount} | done]}
  def handle_call(:issued, _from, done), do: {:reply, Enum.reverse(done), done}
end
