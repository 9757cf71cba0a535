defmodule Tsunami.FixationTest do
  # safe_fixtable semantics against :ets: keys deleted while a hash table is fixed keep
  # their place for next/2, delete_all_objects while fixed, kept-object counts, and
  # fixations of processes that exited.
  use ExUnit.Case, async: true

  @hash_types [:set, :bag, :duplicate_bag]

  defp kept(mod, t), do: elem(mod.info(t, :stats), 6)

  defp both(type, n) do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:fix, [type, :public])
      mod.insert(t, for(i <- 1..n, do: {i, i}))
      if type != :set, do: mod.insert(t, for(i <- 1..n, do: {i, -i}))
      {mod, t}
    end
  end

  defp outcome(fun) do
    {:ok, fun.()}
  rescue
    e in ArgumentError -> {:badarg, e.__struct__}
  end

  for type <- @hash_types do
    test "#{type}: a walk that deletes every key it visits sees each key once" do
      results =
        for {mod, t} <- both(unquote(type), 2000) do
          mod.safe_fixtable(t, true)

          keys =
            Stream.unfold(mod.first(t), fn
              :"$end_of_table" ->
                nil

              k ->
                mod.delete(t, k)
                mod.insert(t, {{:new, k}, 0})
                {k, mod.next(t, k)}
            end)
            |> Enum.to_list()

          originals = Enum.filter(keys, &is_integer/1)
          assert Enum.sort(originals) == Enum.to_list(1..2000), inspect(mod)
          assert length(keys) == length(Enum.uniq(keys))
          # One kept entry per deleted key (how many new keys the walk met depends on
          # the hash order, so the totals differ between the two).
          assert kept(mod, t) == length(keys), inspect(mod)
          mod.safe_fixtable(t, false)
          {kept(mod, t), outcome(fn -> mod.next(t, 1) end), mod.info(t, :size)}
        end

      [ets, tsu] = results
      assert tsu == ets
      assert {0, {:badarg, ArgumentError}, 2000} = tsu
    end

    test "#{type}: delete_all_objects while fixed" do
      results =
        for {mod, t} <- both(unquote(type), 3000) do
          first = mod.first(t)
          mod.safe_fixtable(t, true)
          true = mod.delete_all_objects(t)
          fixed = {mod.next(t, first), mod.info(t, :size), kept(mod, t)}
          mod.safe_fixtable(t, false)
          {fixed, mod.info(t, :size), kept(mod, t), outcome(fn -> mod.next(t, first) end)}
        end

      [ets, tsu] = results
      assert tsu == ets
    end

    test "#{type}: a deleted key inserted again is found in place" do
      for {mod, t} <- both(unquote(type), 500) do
        mod.safe_fixtable(t, true)
        mod.delete(t, 7)
        assert mod.lookup(t, 7) == []
        refute mod.member(t, 7)
        mod.insert(t, {7, :back})
        assert mod.lookup(t, 7) == [{7, :back}]
        assert mod.info(t, :size) == if(unquote(type) == :set, do: 500, else: 999)
        mod.safe_fixtable(t, false)
        assert kept(mod, t) == 0
      end
    end
  end

  test "select_delete and match_delete while fixed keep places too" do
    for {mod, t} <- both(:set, 5000) do
      mod.safe_fixtable(t, true)
      k = mod.first(t)
      assert mod.select_delete(t, [{{:"$1", :_}, [{:>, :"$1", 100}], [true]}]) == 4900
      mod.match_delete(t, {:_, :_})
      assert mod.info(t, :size) == 0
      assert kept(mod, t) == 5000
      assert mod.next(t, k) == :"$end_of_table"
      mod.safe_fixtable(t, false)
      # No walk of select_delete still holds the table.
      assert mod.info(t, :fixed) == false
      assert kept(mod, t) == 0
    end
  end

  test "a process that exited holds no fixation, even before its monitor fired" do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:fix_exit, [:public])
      mod.insert(t, for(i <- 1..1000, do: {i}))
      parent = self()

      {pid, ref} =
        spawn_monitor(fn ->
          mod.safe_fixtable(t, true)
          for i <- 1..500, do: mod.delete(t, i)
          send(parent, :fixed)
        end)

      assert_receive :fixed
      assert_receive {:DOWN, ^ref, :process, ^pid, :normal}
      # Right after the DOWN: as for :ets, the fixation is gone and so are the tombstones.
      assert mod.info(t, :fixed) == false, inspect(mod)
      assert mod.info(t, :safe_fixed) == false
      assert kept(mod, t) == 0
      assert mod.info(t, :size) == 500
    end
  end

  test "a finished chunked walk releases its fixation at once" do
    t = Tsunami.new(:walk_fix, [:public])
    Tsunami.insert(t, for(i <- 1..10_000, do: {i}))
    assert length(Tsunami.tab2list(t)) == 10_000
    assert Tsunami.select_count(t, [{{:_}, [], [true]}]) == 10_000
    assert Tsunami.info(t, :fixed) == false
    {_, cont} = Tsunami.select(t, [{{:_}, [], [:"$_"]}], 10)
    assert Tsunami.info(t, :fixed) == true
    _ = cont
  end
end
