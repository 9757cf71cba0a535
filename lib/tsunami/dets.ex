defmodule Tsunami.Dets do
  @moduledoc false
  # to_dets/2, from_dets/2 and init_table/2.
  #
  # :ets builds the first two on dets:from_ets/2 and dets:to_ets/2, which call :ets on the
  # table directly (and read it from inside the dets server process). Tsunami reads and
  # writes the table from the calling process, a chunk at a time, so access rules apply
  # to the caller and memory stays bounded by one chunk.

  alias Tsunami.Walk

  @dets_chunk 1000

  # Replaces the contents of the dets table with the objects of the table.
  def to_dets(tab, dets) do
    Walk.fixed(tab, fn ->
      dets_ok!(:dets.delete_all_objects(dets))

      Walk.chunks(tab, :ok, fn
        [], :ok -> :ok
        objects, :ok -> dets_ok!(:dets.insert(dets, objects))
      end)

      dets
    end)
  end

  # Inserts the objects of the dets table; the table's own objects stay unless replaced.
  #
  # The dets table is fixed for the walk, as dets:to_ets/2 (a dets:foldl/3) fixes it for
  # :ets.from_dets/2. Unfixed, dets goes on re-hashing between two select/1 calls (it
  # grows in steps, some of them queued by a timer after its last unfix or write), which
  # moves objects within the file: the walk then returns some twice and misses others.
  def from_dets(tab, dets) do
    if Tsunami.info(tab, :protection) == :undefined, do: :erlang.error(:badarg)
    dets_ok!(:dets.safe_fixtable(dets, true))

    try do
      insert_chunks(tab, dets, :dets.select(dets, [{:_, [], [:"$_"]}], @dets_chunk))
    after
      try do
        :dets.safe_fixtable(dets, false)
      catch
        _, _ -> :ok
      end
    end
  end

  defp insert_chunks(_tab, _dets, :"$end_of_table"), do: true
  defp insert_chunks(_tab, _dets, {:error, reason}), do: :erlang.error(reason)

  defp insert_chunks(tab, dets, {objects, cont}) do
    Tsunami.insert(tab, objects)
    insert_chunks(tab, dets, :dets.select(cont))
  end

  defp dets_ok!(:ok), do: :ok
  defp dets_ok!({:error, reason}), do: :erlang.error(reason)

  # Empties the table and fills it from `fun`: fun.(:read) gives `{objects, next_fun}` or
  # `:end_of_input`. A bad object exits with `{:badarg, stack}` after the objects before
  # it went in, and calls the reader's `:close`, as :ets does.
  def init_table(tab, fun) do
    Tsunami.delete_all_objects(tab)
    continue(tab, fun.(:read))
  end

  defp continue(_tab, :end_of_input), do: true

  defp continue(tab, {objects, fun}) when is_list(objects) and is_function(fun) do
    insert_all(tab, objects, fun)
    continue(tab, fun.(:read))
  end

  defp continue(_tab, other), do: exit(other)

  # The whole list in one call when it is valid; otherwise one object at a time, so the
  # objects before a bad one are in the table, as with :ets's object-by-object loop.
  defp insert_all(tab, objects, fun) do
    Tsunami.insert(tab, objects)
  catch
    :error, _ ->
      try do
        Enum.each(objects, &Tsunami.insert(tab, &1))
      catch
        kind, reason when kind in [:error, :exit, :throw] ->
          stack = __STACKTRACE__

          try do
            fun.(:close)
          catch
            _, _ -> :ok
          end

          exit(if kind == :exit, do: reason, else: {reason, stack})
      end
  end
end
