defmodule Library do
  @moduledoc """
  Buggy example: a public library prints spine labels for new books. The label formatter
  writes every title in title case with `String.capitalize/1` word by word, which also
  lowercases the rest of each word: "McDonald" comes out "Mcdonald", "iPad" "Ipad",
  "USA" "Usa". Nothing fails; the catalogue is right and the printed labels are not.
  """

  @compile {:no_warn_undefined, [Library.Catalog, Library.Labels, Library.Printer, Library.Format]}

  def start do
    children = [Library.Catalog, Library.Printer, Library.Labels]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Library.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: the morning's new books are catalogued and their labels printed."
  def trigger do
    books = [
      {"978-0-14-044913-6", "Crime and punishment", "891.73 DOS"},
      {"978-1-5247-6313-8", "Old McDonald had a farm", "J 782.42 OLD"},
      {"978-0-06-231500-7", "The iPad pocket guide", "004.167 IPA"},
      {"978-0-19-953556-9", "A history of the USA", "973 HIS"}
    ]

    for {isbn, title, shelf} <- books, do: :ok = Library.Catalog.add(isbn, title, shelf)
    for {isbn, _, _} <- books, do: Library.Labels.print(isbn)
    :ok
  end
end

defmodule Library.Catalog do
  @moduledoc "The catalogue: isbn → title and shelf mark, as the librarians entered them."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  def add(isbn, title, shelf), do: GenServer.call(__MODULE__, {:add, isbn, title, shelf})
  def get(isbn), do: GenServer.call(__MODULE__, {:get, isbn})

  @impl true
  def init(books), do: {:ok, books}

  @impl true
  def handle_call({:add, isbn, title, shelf}, _from, books),
    do: {:reply, :ok, Map.put(books, isbn, %{title: title, shelf: shelf})}

  def handle_call({:get, isbn}, _from, books), do: {:reply, Map.fetch(books, isbn), books}
end

defmodule Library.Format do
  @moduledoc "How a label reads."

  @doc "The spine label of a book: its shelf mark over its title."
  def spine(%{title: title, shelf: shelf}), do: shelf <> " | " <> title_case(title)

  defp title_case(title) do
    title
    |> String.split(" ")
    |> Enum.map(&String.capitalize/1)
    |> Enum.join(" ")
  end
end

defmodule Library.Labels do
  @moduledoc "Prints the labels of new books, one at a time."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def print(isbn), do: GenServer.cast(__MODULE__, {:print, isbn})
  def printed_count, do: GenServer.call(__MODULE__, :count)

  @impl true
  def init(n), do: {:ok, n}

  @impl true
  def handle_cast({:print, isbn}, n) do
    case Library.Catalog.get(isbn) do
      {:ok, book} ->
        Library.Printer.print(isbn, Library.Format.spine(book))
        {:noreply, n + 1}

      :error ->
        {:noreply, n}
    end
  end

  @impl true
  def handle_call(:count, _from, n), do: {:reply, n, n}
end

defmodule Library.Printer do
  @moduledoc "The label printer: keeps what it printed."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def print(isbn, text), do: GenServer.cast(__MODULE__, {:print, isbn, text})
  def printed, do: GenServer.call(__MODULE__, :printed)

  @impl true
  def init(labels), do: {:ok, labels}

  @impl true
  def handle_cast({:print, isbn, text}, labels), do: {:noreply, [{isbn, text} | labels]}

  @impl true
  def handle_call(:printed, _from, labels), do: {:reply, Enum.reverse(labels), labels}
end
