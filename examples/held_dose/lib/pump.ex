defmodule Infusion.Pump do
  @behaviour :gen_statem

  @compile {:no_warn_undefined, [Infusion.Chart]}

  @step_ms 10

  def start_link(_), do: :gen_statem.start_link({:local, __MODULE__}, __MODULE__, [], [])

  def child_spec(arg), do: %{id: __MODULE__, start: {__MODULE__, :start_link, [arg]}}

  @doc "Order a dose of `drug`, `steps` pump strokes long."
  def order(drug, steps), do: :gen_statem.cast(__MODULE__, {:order, drug, steps})

  @doc "`{state, drug being given or nil}`."
  def status, do: :gen_statem.call(__MODULE__, :status)

  @impl true
  def callback_mode, do: :state_functions

  @impl true
  def init([]), do: {:ok, :ready, %{current: nil, left: 0, strokes: 0}}

  def ready(:cast, {:order, drug, steps}, data) do
    {:next_state, :dosing, %{data | current: drug, left: steps}, stroke()}
  end

  def ready({:call, from}, :status, data), do: {:keep_state_and_data, [{:reply, from, {:ready, data.current}}]}

  def dosing(:cast, {:order, _drug, _steps}, _data), do: {:keep_state_and_data, :postpone}

  def dosing(:state_timeout, :stroke, %{left: 1} = data) do
    Infusion.Chart.given(data.current)
    {:keep_state, %{data | current: nil, left: 0, strokes: data.strokes + 1}}
  end

  def dosing(:state_timeout, :stroke, data) do
    {:keep_state, %{data | left: data.left - 1, strokes: data.strokes + 1}, stroke()}
  end

  def dosing({:call, from}, :status, data), do: {:keep_state_and_data, [{:reply, from, {:dosing, data.current}}]}

  @impl true
  def terminate(_reason, _state, _data), do: :ok

  defp stroke, do: [{:state_timeout, @step_ms, :stroke}]
end
