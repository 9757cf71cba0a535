defmodule Tsunami.Mnesia.ModelTest do
  @moduledoc """
  Random sequences of transactional and dirty mnesia operations (PropEr, with
  shrinking), run on a `ram_copies` table and a `tsunami_copies` table of the same type:
  every result must be the same, call for call (up to list order on `set` and `bag`,
  whose order is each storage's hash order), and so must the contents at the end.
  """
  use ExUnit.Case, async: false
  import Tsunami.MnesiaSupport

  @numtests 300
  @max_size 60

  defp t(name, args), do: apply(:proper_types, name, args)
  defp exactly(x), do: t(:exactly, [x])
  defp tuple(gens), do: t(:tuple, [gens])
  defp elements(xs), do: t(:elements, [xs])
  defp oneof(gens), do: t(:oneof, [gens])
  defp small_list(g), do: t(:resize, [5, t(:list, [g])])

  # Small domains, so that deletes and delete_objects hit written records.
  defp key, do: t(:integer, [0, 7])
  defp v, do: elements([:a, 1, 2.0])
  defp w, do: t(:integer, [0, 2])

  defp write_op do
    oneof([
      tuple([exactly(:write), key(), v(), w()]),
      tuple([exactly(:delete), key()]),
      tuple([exactly(:delete_object), key(), v(), w()])
    ])
  end

  defp op do
    oneof([
      write_op(),
      tuple([exactly(:dirty), write_op()]),
      tuple([exactly(:tx), small_list(write_op())]),
      tuple([exactly(:tx_abort), small_list(write_op())]),
      tuple([exactly(:nested), small_list(write_op()), small_list(write_op())]),
      tuple([exactly(:read), key()]),
      tuple([exactly(:dirty_read), key()]),
      tuple([exactly(:index_read), w()]),
      tuple([exactly(:dirty_index_read), w()]),
      tuple([exactly(:select_v), v()]),
      tuple([exactly(:dirty_select_range), key(), key()]),
      tuple([exactly(:match_object), v()]),
      tuple([exactly(:select_chunks), t(:integer, [1, 6])]),
      tuple([exactly(:counter), key(), elements([1, 3, -1, -5, 0])]),
      exactly(:walk),
      exactly(:reverse_walk),
      exactly(:size),
      exactly(:all_keys),
      tuple([exactly(:clear), elements([true, false, false, false])])
    ])
  end

  # One operation on table `t` (counter table `c`); returns what the caller sees.
  defp run({:write, k, v, w}, t, _c),
    do: :mnesia.transaction(fn -> :mnesia.write(t, {:rec, k, v, w}, :write) end)

  defp run({:delete, k}, t, _c), do: :mnesia.transaction(fn -> :mnesia.delete(t, k, :write) end)

  defp run({:delete_object, k, v, w}, t, _c),
    do: :mnesia.transaction(fn -> :mnesia.delete_object(t, {:rec, k, v, w}, :write) end)

  defp run({:dirty, {:write, k, v, w}}, t, _c), do: :mnesia.dirty_write(t, {:rec, k, v, w})
  defp run({:dirty, {:delete, k}}, t, _c), do: :mnesia.dirty_delete(t, k)

  defp run({:dirty, {:delete_object, k, v, w}}, t, _c),
    do: :mnesia.dirty_delete_object(t, {:rec, k, v, w})

  defp run({:tx, ops}, t, c),
    do: :mnesia.transaction(fn -> in_tx(ops, t, c) end)

  defp run({:tx_abort, ops}, t, c),
    do: :mnesia.transaction(fn -> in_tx(ops, t, c) && :mnesia.abort(:undo) end)

  defp run({:nested, outer, inner}, t, c) do
    :mnesia.transaction(fn ->
      a = in_tx(outer, t, c)
      b = :mnesia.transaction(fn -> in_tx(inner, t, c) && :mnesia.abort(:inner) end)
      {a, b, :mnesia.all_keys(t)}
    end)
  end

  defp run({:read, k}, t, _c), do: :mnesia.transaction(fn -> :mnesia.read(t, k) end)
  defp run({:dirty_read, k}, t, _c), do: :mnesia.dirty_read(t, k)

  defp run({:index_read, w}, t, _c),
    do: :mnesia.transaction(fn -> :mnesia.index_read(t, w, :w) end)

  defp run({:dirty_index_read, w}, t, _c), do: :mnesia.dirty_index_read(t, w, :w)

  defp run({:select_v, v}, t, _c),
    do:
      :mnesia.transaction(fn ->
        :mnesia.select(t, [{{:rec, :"$1", v, :"$2"}, [], [{{:"$1", :"$2"}}]}])
      end)

  defp run({:dirty_select_range, a, b}, t, _c) do
    {lo, hi} = {min(a, b), max(a, b)}

    :mnesia.dirty_select(t, [
      {{:rec, :"$1", :_, :_}, [{:>=, :"$1", lo}, {:"=<", :"$1", hi}], [:"$_"]}
    ])
  end

  defp run({:match_object, v}, t, _c),
    do: :mnesia.transaction(fn -> :mnesia.match_object(t, {:rec, :_, v, :_}, :read) end)

  defp run({:select_chunks, n}, t, _c) do
    :mnesia.transaction(fn -> chunks(:mnesia.select(t, [{:_, [], [:"$_"]}], n, :read)) end)
  end

  defp run({:counter, k, incr}, _t, nil), do: {:no_counter, k, incr}

  defp run({:counter, k, incr}, _t, c) do
    r = :mnesia.dirty_update_counter(c, k, incr)
    {r, :mnesia.dirty_read(c, k)}
  end

  defp run(:walk, t, _c), do: walk(t, &:mnesia.dirty_first/1, &:mnesia.dirty_next/2)
  defp run(:reverse_walk, t, _c), do: walk(t, &:mnesia.dirty_last/1, &:mnesia.dirty_prev/2)
  defp run(:size, t, _c), do: :mnesia.table_info(t, :size)
  defp run(:all_keys, t, _c), do: :mnesia.dirty_all_keys(t)
  defp run({:clear, true}, t, _c), do: :mnesia.clear_table(t)
  # the first key of a hash table is its own hash order's: only where it is from compares
  defp run({:clear, false}, t, _c) do
    first = :mnesia.dirty_first(t)
    {first == :"$end_of_table", first in [:"$end_of_table" | :mnesia.dirty_all_keys(t)]}
  end

  defp in_tx(ops, t, _c) do
    for op <- ops do
      case op do
        {:write, k, v, w} -> :mnesia.write(t, {:rec, k, v, w}, :write)
        {:delete, k} -> :mnesia.delete(t, k, :write)
        {:delete_object, k, v, w} -> :mnesia.delete_object(t, {:rec, k, v, w}, :write)
      end

      {:mnesia.read(t, elem(op, 1)), :mnesia.index_read(t, 0, :w)}
    end
  end

  defp chunks(:"$end_of_table"), do: []
  defp chunks({objs, cont}), do: objs ++ chunks(:mnesia.select(cont))

  defp walk(t, first, next) do
    Stream.unfold(first.(t), fn
      :"$end_of_table" -> nil
      k -> {k, next.(t, k)}
    end)
    |> Enum.to_list()
  end

  defp same_run?(type, {ram, tsu}, counters, ops) do
    {cram, ctsu} = counters || {nil, nil}
    for tab <- [ram, tsu], do: {:atomic, :ok} = :mnesia.clear_table(tab)
    if counters, do: for(tab <- [cram, ctsu], do: {:atomic, :ok} = :mnesia.clear_table(tab))

    Enum.all?(ops, fn op ->
      expected = run(op, ram, cram)
      got = run(op, tsu, ctsu)
      normalize(got, type) == normalize(expected, type) or report(op, expected, got)
    end) and
      (normalize(contents(tsu), type) == normalize(contents(ram), type) or
         report(:contents, contents(ram), contents(tsu)))
  end

  defp report(op, expected, got) do
    Process.put(:last_difference, {op, expected, got})
    false
  end

  setup_all do
    :ok = start!()
  end

  for type <- [:set, :ordered_set, :bag] do
    @type_ type
    test "#{type}: random operation sequences give the same results on tsunami_copies and ram_copies" do
      type = @type_
      tabs = twins(:"model_#{type}", type)

      counters =
        if type != :bag,
          do:
            twins(:"model_cnt_#{type}", type, attributes: [:k, :n], index: [], record_name: :cnt)

      on_exit(fn ->
        drop(tabs)
        if counters, do: drop(counters)
      end)

      prop = :proper.forall(t(:list, [op()]), fn ops -> same_run?(type, tabs, counters, ops) end)

      result =
        :proper.quickcheck(prop, [
          {:numtests, @numtests},
          {:max_size, @max_size},
          :quiet,
          :long_result
        ])

      if result != true do
        flunk("""
        #{type}: ram_copies and tsunami_copies differ
          shrunk counterexample: #{inspect(result, limit: :infinity)}
          last difference (op, ram_copies, tsunami_copies): #{inspect(Process.get(:last_difference))}
        """)
      end
    end
  end
end
