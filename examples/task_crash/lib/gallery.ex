defmodule Gallery do
  @moduledoc """
  Buggy example: a `Task.async` crash kills its caller. `Gallery.Albums` keeps every album in
  its state and makes thumbnails for an upload in parallel with `Task.async/1` +
  `Task.await_many/2`. One picture has a width of 0; `Gallery.Thumbs.scale/2` divides by it,
  the task crashes, and the link takes `Gallery.Albums` down with it: every album is gone.
  """

  @compile {:no_warn_undefined, [Gallery.Albums]}

  def start do
    with {:ok, pid} <- Supervisor.start_link([Gallery.Albums], strategy: :one_for_one, name: Gallery.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: two albums with normal pictures, then an upload holding a broken image."
  def trigger do
    alias Gallery.Albums
    {:ok, _} = Albums.upload("holidays", [%{name: "beach.jpg", width: 4000, height: 3000}])
    {:ok, _} = Albums.upload("cats", [%{name: "tom.png", width: 1200, height: 1200}])
    spawn(fn ->
      Albums.upload("cats", [%{name: "felix.jpg", width: 800, height: 600},
                             %{name: "garfield.gif", width: 0, height: 0}])
    end)
    :ok
  end
end
