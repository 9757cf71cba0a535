defmodule Tsunami.Reliability.SplitTreeTest do
  # Issue #14: ordered_set trees split into many base nodes, checked against :ets through
  # the NIF. The forced-split knob makes every write split its base node (as ETS's
  # `ets_force_split` does), so the tree has many base nodes without contention.
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  defp base_nodes(t), do: elem(Tsunami.info(t, :stats), 0)

  defp keys(n) do
    :rand.seed(:exsss, {7, 8, 9})

    for i <- 1..n do
      case rem(i, 5) do
        0 -> i * 1.0
        1 -> {:k, i}
        2 -> "s#{i}"
        3 -> :"a#{i}"
        4 -> [i | :rand.uniform(1000)]
      end
    end
  end

  test "a forced-split ordered_set answers every read like :ets" do
    o = Oracle.new([:ordered_set, :public])
    true = Tsunami.Native.debug_force_split(o.tsu, true)
    ks = keys(2000)
    for k <- ks, do: Oracle.check(o, & &1.insert(&2, {k, :erlang.phash2(k)}))
    assert base_nodes(o.tsu) > 100

    Oracle.check(o, & &1.tab2list(&2))
    Oracle.check(o, & &1.first(&2))
    Oracle.check(o, & &1.last(&2))

    for k <- Enum.take_every(ks, 7) do
      Oracle.check(o, & &1.next(&2, k))
      Oracle.check(o, & &1.prev(&2, k))
      Oracle.check(o, & &1.lookup(&2, k))
    end

    ms = [{{:"$1", :"$2"}, [{:<, :"$2", 50_000_000}], [:"$_"]}]
    Oracle.check(o, & &1.select(&2, ms))
    Oracle.check(o, & &1.select_reverse(&2, ms))
    Oracle.check(o, & &1.select_count(&2, ms))
    Oracle.check(o, & &1.match_object(&2, {{:k, :_}, :_}))

    # Chunked walks across base nodes: every chunk size gives the same objects in order.
    for n <- [1, 3, 64] do
      Oracle.check(o, fn mod, tab -> walk(mod, mod.select(tab, ms, n)) end)
      Oracle.check(o, fn mod, tab -> walk(mod, mod.select_reverse(tab, ms, n)) end)
    end

    for i <- 0..20, do: Oracle.check(o, & &1.slot(&2, i * 97))

    # Writes across many nodes: deletes, select_delete, select_replace.
    for k <- Enum.take_every(ks, 3), do: Oracle.check(o, & &1.delete(&2, k))
    Oracle.check(o, & &1.select_delete(&2, [{{:_, :"$1"}, [{:<, :"$1", 20_000_000}], [true]}]))

    Oracle.check(
      o,
      & &1.select_replace(&2, [
        {{:"$1", :"$2"}, [{:is_integer, :"$2"}], [{{:"$1", {:+, :"$2", 1}}}]}
      ])
    )

    Oracle.check_contents(o)
    true = Tsunami.Native.debug_force_split(o.tsu, false)
    Oracle.delete(o)
  end

  test "the knob is refused for hash tables and bad values" do
    t = Tsunami.new(:x, [:set])
    assert_raise ArgumentError, fn -> Tsunami.Native.debug_force_split(t, true) end
    o = Tsunami.new(:x, [:ordered_set])
    assert_raise ArgumentError, fn -> Tsunami.Native.debug_force_split(o, :maybe) end
  end

  defp walk(_mod, :"$end_of_table"), do: []
  defp walk(mod, {objs, cont}), do: objs ++ walk(mod, mod.select(cont))
end
