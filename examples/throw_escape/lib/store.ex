defmodule Settings.Store do
  @moduledoc """
  The running settings. State: `%{settings: %{key => value}, version: n}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Settings.Parser]}

  @defaults %{"http.port" => "4000", "http.host" => "localhost", "mail.host" => "localhost"}

  def start_link(_), do: GenServer.start_link(__MODULE__, @defaults, name: __MODULE__)

  @doc "Replace settings from a `key=value` text. Returns `{:ok, count}` or `{:error, _}`."
  def load(text), do: GenServer.call(__MODULE__, {:load, text})

  @doc "Reload the keys of one section (`section.key=value` for each line of `text`)."
  def reload_section(section, text), do: GenServer.call(__MODULE__, {:reload_section, section, text})

  def get(key), do: GenServer.call(__MODULE__, {:get, key})
  def version, do: GenServer.call(__MODULE__, :version)

  @impl true
  def init(defaults), do: {:ok, %{settings: defaults, version: 0}}

  @impl true
  def handle_call({:load, text}, _from, state) do
    case Settings.Parser.parse(text) do
      {:ok, map} -> {:reply, {:ok, map_size(map)}, bump(state, map)}
      {:error, _} = error -> {:reply, error, state}
    end
  end

  def handle_call({:reload_section, section, text}, _from, state) do
    pairs =
      for line <- String.split(text, "\n", trim: true) do
        {key, value} = Settings.Parser.parse_line(line)
        {section <> "." <> key, value}
      end

    {:reply, :ok, bump(state, Map.new(pairs))}
  end

  def handle_call({:get, key}, _from, state), do: {:reply, Map.get(state.settings, key), state}
  def handle_call(:version, _from, state), do: {:reply, state.version, state}

  defp bump(state, map), do: %{state | settings: Map.merge(state.settings, map), version: state.version + 1}
end
