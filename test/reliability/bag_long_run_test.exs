defmodule Tsunami.Reliability.BagLongRunTest do
  # Found this session: an insert into a bag or duplicate_bag walked to the end of its
  # key's run, so N copies of one key cost O(N^2) and held a normal scheduler for
  # seconds (20,000 copies: 8 s against :ets's 4 ms, one insert at 20K copies ~0.8 ms).
  # Runs are now stored newest first, as ETS stores them (an insert links before the
  # run, O(1) for duplicate_bag; bag still compares with every copy, as ETS does), and
  # every reader hands each key's objects out in insertion order. These tests check that
  # order against :ets everywhere objects come out, and that a duplicate_bag takes
  # 200,000 copies of one key (quadratic, that was hours).
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @all [{:_, [], [:"$_"]}]

  defp reads(o, keys) do
    for k <- keys do
      Oracle.check(o, & &1.lookup(&2, k))
      Oracle.check(o, & &1.lookup_element(&2, k, 2))
      Oracle.check(o, & &1.match_object(&2, {k, :_}))
      Oracle.check(o, & &1.select(&2, [{{k, :_}, [], [:"$_"]}]))
    end

    Oracle.check(o, & &1.tab2list(&2), sort: true)
    Oracle.check(o, & &1.select(&2, @all), sort: true)
    # select/3 chunks: :ets hands a key's objects out newest first there (its chain
    # order), an order nothing documents; compare the sets.
    Oracle.check(o, &chunked/2, sort: true)
    # Walk results group each key's objects together: compare per key, in order.
    for fun <- [
          & &1.tab2list(&2),
          & &1.select(&2, @all),
          & &1.select_reverse(&2, @all),
          & &1.match_object(&2, :_)
        ] do
      [e, t] = for {m, tab} <- [{:ets, o.ets}, {Tsunami, o.tsu}], do: fun.(m, tab)
      assert Enum.group_by(e, &elem(&1, 0)) == Enum.group_by(t, &elem(&1, 0))
    end
  end

  defp chunked(mod, tab), do: chunks(mod.select(tab, @all, 7), mod)
  defp chunks(:"$end_of_table", _mod), do: []
  defp chunks({items, cont}, mod), do: items ++ chunks(mod.select(cont), mod)

  for type <- [:bag, :duplicate_bag] do
    test "#{type}: each key's objects come out in insertion order, as from :ets" do
      o = Oracle.new([unquote(type), :public])
      keys = [:a, :b, 1, 2.0, "k"]

      for i <- 1..300, k <- keys do
        Oracle.check(o, & &1.insert(&2, {k, rem(i * 37, 101)}))
      end

      Oracle.check(o, & &1.insert(&2, for(i <- 1..50, do: {:a, {:list, i}})))
      reads(o, keys)

      # Remove some copies from the middle of a run, then add more.
      Oracle.check(o, & &1.delete_object(&2, {:b, 5}))
      Oracle.check(o, & &1.select_delete(&2, [{{:a, :"$1"}, [{:is_integer, :"$1"}], [true]}]))
      Oracle.check(o, & &1.match_delete(&2, {1, 7}))
      for i <- 1..20, do: Oracle.check(o, & &1.insert(&2, {:b, {:again, i}}))
      reads(o, keys)

      # take hands the run out in insertion order and leaves the key absent.
      for k <- keys, do: Oracle.check(o, & &1.take(&2, k))
      Oracle.check_contents(o)
    end

    test "#{type}: inserts stay in order while a fixed walk tombstones keys" do
      o = Oracle.new([unquote(type), :public])
      for i <- 1..200, do: Oracle.check(o, & &1.insert(&2, {rem(i, 7), i}))
      Oracle.check(o, & &1.safe_fixtable(&2, true))
      for k <- [0, 3], do: Oracle.check(o, & &1.delete(&2, k))
      for i <- 1..30, do: Oracle.check(o, & &1.insert(&2, {rem(i, 4), -i}))
      reads(o, Enum.to_list(0..6))
      Oracle.check(o, & &1.safe_fixtable(&2, false))
      reads(o, Enum.to_list(0..6))
    end
  end

  test "duplicate_bag: 200,000 copies of one key, one insert at a time" do
    t = Tsunami.new(:many_copies, [:duplicate_bag, :public])
    n = 200_000
    for i <- 1..n, do: true = Tsunami.insert(t, {:k, i})
    Tsunami.insert(t, {:k, 1})
    objects = Tsunami.lookup(t, :k)
    assert length(objects) == n + 1
    assert objects == for(i <- 1..n, do: {:k, i}) ++ [{:k, 1}]
    assert Tsunami.select_count(t, [{{:k, :"$1"}, [{:"=<", :"$1", 10}], [true]}]) == 11
    assert Tsunami.delete_object(t, {:k, 1})
    assert Tsunami.info(t, :size) == n - 1
    assert hd(Tsunami.take(t, :k)) == {:k, 2}
    assert Tsunami.info(t, :size) == 0
  end
end
