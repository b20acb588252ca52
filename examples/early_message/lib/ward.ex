defmodule Clinic.Records do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def admit(name), do: GenServer.call(__MODULE__, {:admit, name})

  @impl true
  def init([]), do: {:ok, %{next: 1001, files: %{}}}

  @impl true
  def handle_call({:admit, name}, _from, state) do
    id = "P-#{state.next}"
    Task.start(fn -> verify_insurance(id, name) end)
    {:reply, {:ok, id}, %{state | next: state.next + 1, files: Map.put(state.files, id, name)}}
  end

  defp verify_insurance(id, name) do
    Process.sleep(10)
    send(Clinic.Ward, {:admitted, id, name})
  end
end

defmodule Clinic.Ward do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def record_vitals(id, vitals), do: GenServer.cast(__MODULE__, {:vitals, id, vitals})
  def chart(id), do: GenServer.call(__MODULE__, {:chart, id})

  @impl true
  def init([]), do: {:ok, %{patients: %{}}}

  @impl true
  def handle_call({:chart, id}, _from, state), do: {:reply, Map.get(state.patients, id), state}

  @impl true
  def handle_cast({:vitals, id, vitals}, state) do
    case state.patients do
      %{^id => chart} -> {:noreply, put_in(state.patients[id], %{chart | vitals: [vitals | chart.vitals]})}
      _ -> {:noreply, state}
    end
  end

  @impl true
  def handle_info({:admitted, id, name}, state) do
    {:noreply, %{state | patients: Map.put(state.patients, id, %{name: name, vitals: []})}}
  end
end
