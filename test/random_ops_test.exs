defmodule Tsunami.RandomOpsTest do
  @moduledoc """
  Randomized operation sequences (PropEr, with shrinking) applied to an `:ets` table and
  a Tsunami table with the same options: every result (or raised error) and the final
  contents must be the same.
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @numtests 250
  @max_size 120

  defp t(name, args), do: apply(:proper_types, name, args)
  defp exactly(x), do: t(:exactly, [x])
  defp tuple(gens), do: t(:tuple, [gens])
  defp elements(xs), do: t(:elements, [xs])
  defp oneof(gens), do: t(:oneof, [gens])

  # Few keys so operations collide; 1 and 1.0, 0.0 and -0.0 (one key on OTP 25, where
  # -0.0 =:= 0.0) are in the mix, alone and inside other terms, as keys and as values.
  # The zeros are built at run time (a literal -0.0 may share 0.0's literal before OTP 27).
  @keys [0, 1, 2, 3, 1.0, 2.5, :a, :b, "k", {1, 2}, [1 | 2], %{a: 1}, 2 ** 64, -(2 ** 70)]
  @values [0, 1, -5, 7, 2 ** 62, -(2 ** 65), 1.5, :x, "v", {}, [], {:n, [1]}]

  defp neg_zero, do: :erlang.binary_to_term(<<131, 70, 128, 0, 0, 0, 0, 0, 0, 0>>)
  defp zero, do: :erlang.binary_to_term(<<131, 70, 0::64>>)

  defp zeros do
    {n, p} = {neg_zero(), zero()}
    [n, p, {n, 1}, {p, 1}, [n], %{k: n}]
  end

  # ordered_set compares keys with `==` (term order): 0.0/-0.0 and 1/1.0 are one key there,
  # and big integers next to floats at the edge of float precision are interesting.
  @os_keys @keys ++
             [3.0, 2 ** 53, 2 ** 53 + 1, 2.0 ** 53, :ä, :日本, {1.0, 2}, [1.0 | 2]]

  # Mostly the colliding keys; also a range of 600 integers, filled in bulk by
  # `:insert_range`, so tables reach hundreds of keys (resizes, many base nodes).
  defp key do
    t(:frequency, [
      [
        {4, elements(Process.get(:random_ops_keys, @keys) ++ zeros())},
        {1, t(:integer, [0, 599])}
      ]
    ])
  end

  defp value, do: elements(@values ++ zeros())

  # {key, v1, v2} shapes; arranged for the keypos by `obj/2`.
  defp raw_obj do
    oneof([
      tuple([exactly(:o3), key(), value(), value()]),
      tuple([exactly(:o2), key(), value()]),
      tuple([exactly(:o4), key(), value(), value(), value()])
    ])
  end

  defp obj({:o2, k, v}, 1), do: {k, v}
  defp obj({:o2, k, v}, 2), do: {v, k}
  defp obj({:o3, k, a, b}, 1), do: {k, a, b}
  defp obj({:o3, k, a, b}, 2), do: {a, k, b}
  defp obj({:o4, k, a, b, c}, 1), do: {k, a, b, c}
  defp obj({:o4, k, a, b, c}, 2), do: {a, k, b, c}

  defp small_list(g), do: t(:resize, [4, t(:list, [g])])

  defp counter_op do
    pos = t(:integer, [1, 5])
    incr = elements([1, -1, 0, 5, -100, 2 ** 63, 1.0])

    oneof([
      incr,
      tuple([pos, incr]),
      tuple([pos, incr, elements([0, 10, -10]), elements([0, 42])]),
      small_list(tuple([pos, incr]))
    ])
  end

  defp element_spec do
    pos = t(:integer, [0, 5])
    oneof([tuple([pos, value()]), small_list(tuple([pos, value()]))])
  end

  defp op do
    oneof([
      tuple([exactly(:insert), raw_obj()]),
      tuple([exactly(:insert), raw_obj()]),
      tuple([exactly(:insert_list), small_list(raw_obj())]),
      tuple([exactly(:insert_new), raw_obj()]),
      tuple([exactly(:insert_new_list), small_list(raw_obj())]),
      tuple([exactly(:delete), key()]),
      tuple([exactly(:delete_object), raw_obj()]),
      tuple([exactly(:take), key()]),
      tuple([exactly(:update_counter), key(), counter_op()]),
      tuple([exactly(:update_counter4), key(), counter_op(), raw_obj()]),
      tuple([exactly(:update_element), key(), element_spec()]),
      tuple([exactly(:lookup), key()]),
      tuple([exactly(:member), key()]),
      tuple([exactly(:lookup_element), key(), t(:integer, [0, 5])]),
      tuple([exactly(:insert_range), t(:integer, [0, 599]), t(:integer, [1, 300]), value()]),
      tuple([exactly(:select), t(:integer, [0, 599])]),
      tuple([exactly(:select_count), t(:integer, [0, 599])]),
      tuple([exactly(:select_delete), t(:integer, [0, 599])]),
      tuple([exactly(:delete_all_objects), t(:integer, [0, 9])])
      | traversal_ops()
    ])
  end

  # Traversal is deterministic only on ordered_set (term order), so only there.
  defp traversal_ops do
    if Process.get(:random_ops_keys) do
      [
        tuple([exactly(:next), key()]),
        tuple([exactly(:prev), key()]),
        tuple([exactly(:first)]),
        tuple([exactly(:last)])
      ]
    else
      []
    end
  end

  defp apply_op(m, tab, kp, op) do
    case op do
      {:insert, o} ->
        m.insert(tab, obj(o, kp))

      {:insert_list, os} ->
        m.insert(tab, Enum.map(os, &obj(&1, kp)))

      {:insert_new, o} ->
        m.insert_new(tab, obj(o, kp))

      {:insert_new_list, os} ->
        m.insert_new(tab, Enum.map(os, &obj(&1, kp)))

      {:delete, k} ->
        m.delete(tab, k)

      {:delete_object, o} ->
        m.delete_object(tab, obj(o, kp))

      {:take, k} ->
        m.take(tab, k)

      {:update_counter, k, c} ->
        m.update_counter(tab, k, c)

      {:update_counter4, k, c, d} ->
        m.update_counter(tab, k, c, obj(d, kp))

      {:update_element, k, s} ->
        m.update_element(tab, k, s)

      {:lookup, k} ->
        m.lookup(tab, k)

      {:member, k} ->
        m.member(tab, k)

      {:lookup_element, k, pos} ->
        m.lookup_element(tab, k, pos)

      {:insert_range, from, n, v} ->
        m.insert(tab, for(i <- from..(from + n), do: obj({:o2, i, v}, kp)))

      {:select, below} ->
        in_order(m.select(tab, below_spec(kp, below, :"$_")))

      {:select_count, below} ->
        m.select_count(tab, below_spec(kp, below, true))

      {:select_delete, below} ->
        m.select_delete(tab, below_spec(kp, below, true))

      # Rare: clearing everything would make most sequences end on an empty table.
      {:delete_all_objects, 0} ->
        m.delete_all_objects(tab)

      {:delete_all_objects, _} ->
        m.info(tab, :size)

      {:next, k} ->
        m.next(tab, k)

      {:prev, k} ->
        m.prev(tab, k)

      {:first} ->
        m.first(tab)

      {:last} ->
        m.last(tab)
    end
  end

  # Objects whose key is an integer below `below`.
  defp below_spec(kp, below, body) do
    key = {:element, kp, :"$_"}
    [{:_, [{:is_integer, key}, {:<, key, below}], [body]}]
  end

  # select on a hash table returns objects in its own hash order: compare as multisets.
  defp in_order(list) when is_list(list),
    do: if(Process.get(:random_ops_keys), do: list, else: Oracle.sort(list))

  # Runs the sequence on both; true when every outcome and the final contents agree.
  defp same_run?(opts, ops) do
    kp = Keyword.get(opts, :keypos, 1)
    p = Oracle.new(opts)

    try do
      Enum.all?(ops, fn op ->
        {e, t} = Oracle.outcomes(p, fn m, tab -> apply_op(m, tab, kp, op) end)
        Oracle.same?(e, t) or report(op, e, t)
      end) and
        (
          # ordered_set: tab2list is in term order, compared exactly (order included).
          ordered? = :ordered_set in opts
          sort = fn l -> if ordered?, do: l, else: Oracle.sort(l) end
          {e, t} = Oracle.outcomes(p, fn m, tab -> sort.(m.tab2list(tab)) end)
          Oracle.same?(e, t) or report(:final_contents, e, t)
        ) and
        (
          {e, t} = Oracle.outcomes(p, fn m, tab -> m.info(tab, :size) end)
          Oracle.same?(e, t) or report(:size, e, t)
        )
    after
      Oracle.delete(p)
    end
  end

  defp report(op, e, t) do
    Process.put(:last_difference, {op, e, t})
    false
  end

  ordered_set_variants =
    for wc <- [false, true],
        kp <- [1, 2],
        do: [:ordered_set, {:keypos, kp}, {:write_concurrency, wc}]

  for opts <-
        [[:set, {:keypos, 1}], [:set, {:keypos, 2}]] ++
          [[:bag, {:keypos, 1}], [:bag, {:keypos, 2}]] ++
          [[:duplicate_bag, {:keypos, 1}], [:duplicate_bag, {:keypos, 2}]] ++
          ordered_set_variants do
    @opts opts
    test "#{inspect(opts)}: random operation sequences match :ets" do
      opts = @opts
      if :ordered_set in opts, do: Process.put(:random_ops_keys, @os_keys)
      prop = :proper.forall(t(:list, [op()]), fn ops -> same_run?(opts, ops) end)

      result =
        :proper.quickcheck(prop, [
          {:numtests, @numtests},
          {:max_size, @max_size},
          :quiet,
          :long_result
        ])

      if result != true do
        flunk("""
        #{inspect(opts)}: :ets and Tsunami differ
          shrunk counterexample: #{inspect(result, limit: :infinity)}
          last difference (op, ets, tsunami): #{inspect(Process.get(:last_difference))}
        """)
      end
    end
  end
end
