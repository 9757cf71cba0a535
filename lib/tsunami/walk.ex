defmodule Tsunami.Walk do
  @moduledoc false
  # Whole-table walks, one chunk (~1000 objects) per NIF call so that no call holds a
  # scheduler for long. The chunk cursor holds no fixation: it resumes at a position that
  # keeps its meaning when the table resizes (see tsunami_core's backend/hash), so every
  # object that stays in the table is visited exactly once. Walks that :ets runs under
  # safe_fixtable/2 (foldl, foldr, tab2file, to_dets) use fixed/2 around this, so
  # info(T, :fixed | :safe_fixed) reads as with :ets while they run and is released
  # however they end (the fixation monitor releases it if the process dies).

  alias Tsunami.Native

  @doc false
  # Folds `fun.(objects, acc)` over the table's chunks, in table order. `step` fetches a
  # chunk (`Native.tab2list_chunk/2` unless the caller wraps it to raise its own errors).
  def chunks(tab, acc, fun, step \\ &Native.tab2list_chunk/2),
    do: chunks(tab, nil, acc, fun, step)

  defp chunks(tab, cont, acc, fun, step) do
    case step.(tab, cont) do
      {objects, :"$end_of_table"} -> fun.(objects, acc)
      {objects, cursor} -> chunks(tab, cursor, fun.(objects, acc), fun, step)
    end
  end

  @doc false
  # Runs `fun` with the table fixed by `safe_fixtable/2` (as :ets's Erlang-level walks
  # such as tab2file do), releasing the fixation however `fun` ends.
  def fixed(tab, fun) do
    Tsunami.safe_fixtable(tab, true)

    try do
      fun.()
    after
      try do
        Tsunami.safe_fixtable(tab, false)
      catch
        _, _ -> :ok
      end
    end
  end
end
