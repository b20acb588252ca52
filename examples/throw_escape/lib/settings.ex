defmodule Settings do
  @moduledoc """
  Buggy example: a `throw` escaping a callback. `Settings.Parser` uses `throw` to bail out of
  a malformed line and catches it in its public `parse/1`. `Settings.Store`'s newer
  section reload calls the parser's line function directly, outside that `catch`: a malformed
  line throws out of `handle_call/3`, `gen_server` takes the thrown term for the callback's
  return value, finds it invalid and stops the store — every setting is back to its default.
  """

  @compile {:no_warn_undefined, [Settings.Store]}

  def start do
    with {:ok, pid} <- Supervisor.start_link([Settings.Store], strategy: :one_for_one, name: Settings.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: an admin edits settings, then reloads the mail section with a typo."
  def trigger do
    alias Settings.Store
    {:ok, 2} = Store.load("http.port=8080\nhttp.host=example.com")
    :ok = Store.reload_section("cache", "ttl=60\nsize=1000")
    spawn(fn -> Store.reload_section("mail", "host=smtp.example.com\nport 587") end)
    :ok
  end
end

defmodule Settings.Parser do
  @moduledoc "`key=value` lines. `parse/1` returns `{:ok, map}` or `{:error, {:bad_line, line}}`."

  def parse(text) do
    {:ok, text |> String.split("\n", trim: true) |> Map.new(&parse_line/1)}
  catch
    {:bad_line, _} = bad -> {:error, bad}
  end

  @doc "One `key=value` line. Throws `{:bad_line, line}` (caught by `parse/1`)."
  def parse_line(line) do
    case String.split(line, "=", parts: 2) do
      [key, value] -> {String.trim(key), String.trim(value)}
      _ -> throw({:bad_line, line})
    end
  end
end
