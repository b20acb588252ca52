defmodule Gallery.Albums do
  @moduledoc """
  Albums and their pictures, with thumbnails. State: `%{albums: %{name => [picture]},
  uploads: n}`; a picture is `%{name, width, height, thumb: {w, h}}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [Gallery.Thumbs]}

  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Add pictures to an album (thumbnails are made first). Returns `{:ok, count_in_album}`."
  def upload(album, pictures), do: GenServer.call(__MODULE__, {:upload, album, pictures}, 5_000)

  def albums, do: GenServer.call(__MODULE__, :albums)

  @impl true
  def init([]), do: {:ok, %{albums: %{}, uploads: 0}}

  @impl true
  def handle_call({:upload, album, pictures}, _from, state) do
    thumbs =
      pictures
      |> Enum.map(fn pic -> Task.async(fn -> Gallery.Thumbs.thumbnail(pic) end) end)
      |> Task.await_many(2_000)

    albums = Map.update(state.albums, album, thumbs, &(&1 ++ thumbs))
    {:reply, {:ok, length(albums[album])}, %{state | albums: albums, uploads: state.uploads + 1}}
  end

  def handle_call(:albums, _from, state),
    do: {:reply, Map.new(state.albums, fn {name, pics} -> {name, length(pics)} end), state}
end

defmodule Gallery.Thumbs do
  @moduledoc "Thumbnail geometry: fit a picture into a 160×160 box, keeping its aspect ratio."

  @box 160

  def thumbnail(pic), do: Map.put(pic, :thumb, scale(pic.width, pic.height))

  @doc "The thumbnail size `{w, h}` for a `width × height` picture."
  def scale(width, height) do
    ratio = height / width
    if ratio <= 1, do: {@box, round(@box * ratio)}, else: {round(@box / ratio), @box}
  end
end
