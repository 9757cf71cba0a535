defmodule Tsunami.SchedBudgetTest do
  # Calls whose work grows with their input, reworked to stay within a scheduler's
  # budget (see DESIGN.md, "Scheduler budget"), checked for the same results as :ets on
  # inputs big enough to take the new paths: long update_counter op lists (dirty
  # scheduler), slot/2 on ordered_set (by rank), many-clause bound-key specs (per key
  # group), info(T, stats) of big tables (dirty) and the last unfix after many deletes
  # (swept on the reaper thread). How long each holds a scheduler is checked in
  # long_schedule_test.exs (tagged :long) and bench/sched_monitor.exs.
  use ExUnit.Case, async: true

  defp pair(type, objects) do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:budget, [type, :public])
      mod.insert(t, objects)
      {mod, t}
    end
  end

  defp outcome(fun) do
    {:ok, fun.()}
  rescue
    e in ArgumentError -> {:badarg, e.__struct__}
  end

  defp same(pairs, fun) do
    [{:ets, e}, {Tsunami, t}] = pairs
    assert outcome(fn -> fun.(Tsunami, t) end) == outcome(fn -> fun.(:ets, e) end)
  end

  describe "update_counter/3 with long op lists" do
    test "an op for every element, repeated positions and thresholds: as :ets" do
      n = 5000
      wide = List.to_tuple([:k | Enum.to_list(1..n)])

      ops =
        for(pos <- 2..(n + 1), do: {pos, pos}) ++
          for(pos <- 2..(n + 1)//3, do: {pos, -1, 0, 7}) ++
          for pos <- 2..(n + 1)//5, do: {pos, 10, 100, -5}

      pairs = pair(:set, [wide])
      same(pairs, fn m, t -> m.update_counter(t, :k, ops) end)
      same(pairs, fn m, t -> m.lookup(t, :k) end)
    end

    test "a bad op at the end of a long list: badarg, nothing applied" do
      ops = for(pos <- 2..3001, do: {pos, 1}) ++ [{2, :x}]
      pairs = pair(:ordered_set, [List.to_tuple([:k | List.duplicate(0, 3000)])])
      same(pairs, fn m, t -> m.update_counter(t, :k, ops) end)
      same(pairs, fn m, t -> m.lookup(t, :k) end)
      same(pairs, fn m, t -> m.update_counter(t, :missing, ops) end)
    end

    test "a long list with a default object for a missing key" do
      ops = for pos <- 2..2501, do: {pos, pos}
      default = List.to_tuple([:x | List.duplicate(1, 2500)])
      pairs = pair(:set, [])
      same(pairs, fn m, t -> m.update_counter(t, :new, ops, default) end)
      same(pairs, fn m, t -> m.lookup(t, :new) end)
    end

    test "a counter outgrowing a small integer in a long list rebuilds the object" do
      big = Bitwise.bsl(1, 59) - 2
      ops = for(pos <- 2..2501, do: {pos, 1}) ++ [{2, 5}, {3, big}]
      pairs = pair(:set, [List.to_tuple([:k | List.duplicate(big, 2500)])])
      same(pairs, fn m, t -> m.update_counter(t, :k, ops) end)
      same(pairs, fn m, t -> m.lookup(t, :k) end)
    end
  end

  describe "slot/2 on an ordered_set" do
    test "every slot, one past the end and beyond, after inserts and deletes: as :ets" do
      keys = Enum.shuffle(1..3000)
      pairs = pair(:ordered_set, Enum.map(keys, &{&1, &1}))

      for {m, t} <- pairs do
        for k <- 1..3000//7, do: m.delete(t, k)
        m.insert(t, [{1.5, :float}, {:atom, 1}, {{:tuple}, 2}])
      end

      [{:ets, e} | _] = pairs
      size = :ets.info(e, :size)
      for i <- Enum.to_list(0..(size + 2)), do: same(pairs, fn m, t -> m.slot(t, i) end)
    end

    test "slots of a tree split into many base nodes by contention" do
      {_, t} = List.last(pair(:ordered_set, for(i <- 1..20_000, do: {i})))

      1..4
      |> Enum.map(fn w ->
        Task.async(fn ->
          for i <- 1..20_000, rem(i, 4) == w - 1, do: Tsunami.insert(t, {i, w})
        end)
      end)
      |> Enum.each(&Task.await(&1, 60_000))

      objects = Tsunami.tab2list(t)
      for i <- 0..19_999//97, do: assert(Tsunami.slot(t, i) == [Enum.at(objects, i)])
      assert Tsunami.slot(t, 20_000) == :"$end_of_table"
      assert_raise ArgumentError, fn -> Tsunami.slot(t, 20_001) end
    end
  end

  describe "specs with many bound keys" do
    # Clauses for keys 1..n (some twice, with different guards), plus keys that are
    # absent; on an ordered_set 1.0-style float keys too.
    defp spec(n) do
      for(k <- 1..n, do: {{k, :"$1", :_}, [{:>, :"$1", 0}], [:"$_"]}) ++
        for(k <- 1..n//2, do: {{k, :_, :_}, [], [{{:second, k}}]}) ++
        for k <- (n + 1)..(n + 50), do: {{k, :_, :_}, [], [:"$_"]}
    end

    for type <- [:set, :bag, :duplicate_bag, :ordered_set] do
      test "#{type}: select, select_count, select_delete with 3000 keys: as :ets" do
        type = unquote(type)
        objects = for i <- 1..4000, do: {rem(i, 3000) + 1, i - 2000, :v}
        pairs = pair(type, objects)
        spec = spec(3000)
        sort = if type == :ordered_set, do: & &1, else: &Enum.sort/1
        same(pairs, fn m, t -> sort.(m.select(t, spec)) end)

        count = for {h, _, _} <- spec, do: {h, [], [true]}
        same(pairs, fn m, t -> m.select_count(t, count) end)

        delete =
          for {{k, _, _}, _, _} <- Enum.take(spec, 1500),
              do: {{k, :"$1", :_}, [{:<, :"$1", 0}], [true]}

        same(pairs, fn m, t -> m.select_delete(t, delete) end)
        same(pairs, fn m, t -> sort.(m.tab2list(t)) end)
      end
    end

    test "ordered_set: keys 1 and 1.0 in one spec find only their own stored key, in order" do
      objects = for i <- 1..1000, do: {if(rem(i, 2) == 0, do: i * 1.0, else: i), i, :v}
      pairs = pair(:ordered_set, objects)
      spec = for i <- 1..1000, k <- [i, i * 1.0], do: {{k, :_, :_}, [], [{{k, :"$_"}}]}
      same(pairs, fn m, t -> m.select(t, spec) end)
    end

    test "select_replace with many clauses: as :ets" do
      pairs = pair(:set, for(i <- 1..3000, do: {i, i, :v}))
      spec = for k <- 1..3000, do: {{k, :"$1", :_}, [], [{{k, :"$1", {:const, {:new, k}}}}]}
      same(pairs, fn m, t -> m.select_replace(t, spec) end)
      same(pairs, fn m, t -> Enum.sort(m.tab2list(t)) end)
    end

    test "an invalid clause late in a long spec: badarg and nothing deleted" do
      pairs = pair(:set, for(i <- 1..100, do: {i, i}))
      spec = for(k <- 1..99, do: {{k, :_}, [], [true]}) ++ [{{100, :_}, [{:bad_guard}], [true]}]
      same(pairs, fn m, t -> m.select_delete(t, spec) end)
      same(pairs, fn m, t -> m.info(t, :size) end)
    end
  end

  describe "info(T, stats) and the last unfix" do
    test "a big hash table's stats (dirty call) have :ets's shape and count kept objects" do
      for type <- [:set, :bag] do
        [{:ets, e}, {Tsunami, t}] = pair(type, for(i <- 1..30_000, do: {i, i}))

        for {m, tab} <- [{:ets, e}, {Tsunami, t}] do
          stats = m.info(tab, :stats)
          assert tuple_size(stats) == 8 and elem(stats, 6) == 0
          m.safe_fixtable(tab, true)
          m.match_delete(tab, {:_, :_})
          assert elem(m.info(tab, :stats), 6) == 30_000
          assert m.info(tab, :size) == 0
          m.safe_fixtable(tab, false)
          # The sweep may still run on the reaper thread; stats wait for it.
          assert elem(m.info(tab, :stats), 6) == 0
        end
      end
    end

    test "after the last unfix of many deletes, the table works at once" do
      pairs = pair(:set, for(i <- 1..20_000, do: {i, i}))

      for {m, t} <- pairs do
        m.safe_fixtable(t, true)
        for i <- 1..20_000, rem(i, 3) != 0, do: m.delete(t, i)
        m.safe_fixtable(t, false)
        m.insert(t, for(i <- 1..20_000//2, do: {i, :again}))
      end

      same(pairs, fn m, t -> Enum.sort(m.tab2list(t)) end)
      same(pairs, fn m, t -> m.info(t, :size) end)
      same(pairs, fn m, t -> m.lookup(t, 2) end)
    end
  end
end
