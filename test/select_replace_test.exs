defmodule Tsunami.SelectReplaceTest do
  @moduledoc """
  `select_replace/2` beyond the generated parity corpus of `select_test.exs`: each object
  is matched and replaced atomically (no update of a concurrent `update_counter` or
  `select_replace` is lost, as with `:ets`), across chunks, on every path (the engine's
  walk, bound keys, objects OTP's engine decides), and `duplicate_bag` copies are each
  replaced and counted, in place, as `:ets` does.
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  # Increments element 2 of every object (key at 1).
  @incr [{{:"$1", :"$2"}, [], [{{:"$1", {:+, :"$2", 1}}}]}]

  defp sum(mod, t), do: t |> mod.tab2list() |> Enum.map(&elem(&1, 1)) |> Enum.sum()

  # `walkers` processes select_replace-increment every object `rounds` times while
  # `counters` processes update_counter random keys; returns {replacements, counter
  # updates, final sum}.
  defp race(mod, type, spec, n, base, walkers, rounds, counters, updates) do
    t = mod.new(:race, [type, :public, {:write_concurrency, true}])
    mod.insert(t, for(k <- 1..n, do: {k, base}))
    parent = self()

    walk = fn ->
      send(parent, {:walked, Enum.sum(for _ <- 1..rounds, do: mod.select_replace(t, spec))})
    end

    count = fn ->
      for _ <- 1..updates, do: mod.update_counter(t, :rand.uniform(n), {2, 1})
      send(parent, {:counted, updates})
    end

    pids =
      for(_ <- 1..walkers, do: spawn_link(walk)) ++ for(_ <- 1..counters, do: spawn_link(count))

    {replaced, counted} =
      Enum.reduce(pids, {0, 0}, fn _, {r, c} ->
        receive do
          {:walked, x} -> {r + x, c}
          {:counted, x} -> {r, c + x}
        after
          60_000 -> flunk("race did not finish")
        end
      end)

    result = {replaced, counted, sum(mod, t) - n * base}
    mod.delete(t)
    result
  end

  for type <- [:set, :ordered_set] do
    test "select_replace racing update_counter loses no increment on #{type}" do
      type = unquote(type)

      for mod <- [:ets, Tsunami] do
        # 3000 objects: every walk spans several engine chunks.
        {replaced, counted, total} = race(mod, type, @incr, 3000, 0, 2, 5, 2, 20_000)
        assert replaced == 2 * 5 * 3000, inspect(mod)
        assert total == replaced + counted, "#{inspect(mod)}: lost increments"
      end
    end

    test "objects OTP's engine decides (bignums) are replaced atomically too on #{type}" do
      type = unquote(type)

      for mod <- [:ets, Tsunami] do
        {replaced, counted, total} = race(mod, type, @incr, 200, 2 ** 70, 2, 3, 2, 2000)
        assert replaced == 2 * 3 * 200, inspect(mod)
        assert total == replaced + counted, "#{inspect(mod)}: lost increments"
      end
    end
  end

  test "concurrent select_replace on a duplicate_bag replaces every copy, losing nothing" do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:race, [:duplicate_bag, :public])
      mod.insert(t, for(k <- 1..1500, c <- [0, 0, 1000], do: {k, c}))
      parent = self()

      for _ <- 1..3,
          do: spawn_link(fn -> send(parent, {:n, mod.select_replace(t, @incr)}) end)

      counts = for _ <- 1..3, do: receive(do: ({:n, n} -> n))
      assert counts == [4500, 4500, 4500], inspect(mod)
      assert Enum.frequencies(Enum.map(mod.lookup(t, 7), &elem(&1, 1))) == %{3 => 2, 1003 => 1}
      mod.delete(t)
    end
  end

  describe "parity with :ets" do
    defp both(type, objs, fun) do
      for mod <- [:ets, Tsunami] do
        t = mod.new(:par, [type, :public])
        # One object at a time: in a list insert, which of two objects with the same key
        # wins is undefined (`1` and `1.0` are one key in an ordered_set).
        Enum.each(objs, &mod.insert(t, &1))
        r = fun.(mod, t)

        contents =
          if type == :ordered_set, do: mod.tab2list(t), else: Oracle.sort(mod.tab2list(t))

        # A key's copies keep their order: compare per-key lookups too.
        per_key = for k <- objs |> Enum.map(&elem(&1, 0)) |> Enum.uniq(), do: mod.lookup(t, k)
        mod.delete(t)
        {r, contents, per_key}
      end
      |> then(fn [e, t] -> assert t == e end)
    end

    test "duplicate_bag copies are each replaced and counted, in place" do
      objs = [{:a, 1}, {:a, 2}, {:a, 1}, {:b, 1}, {:a, 3}, {:b, 1}, {:c, 1}]

      for spec <- [
            [{{:"$1", 1}, [], [{{:"$1", :one}}]}],
            [{{:a, :"$2"}, [], [{{:a, {:*, :"$2", 10}}}]}],
            [{{:"$1", :"$2"}, [{:>, :"$2", 1}], [:"$_"]}],
            [{{:"$1", :"$2"}, [], [{{:"$1", :"$2", :"$2"}}]}]
          ] do
        both(:duplicate_bag, objs, fn mod, t -> mod.select_replace(t, spec) end)
      end
    end

    test "bound keys, key ranges and whole walks on every type" do
      objs = for k <- 1..2500, do: {k, rem(k, 7)}
      objs = objs ++ [{{:p, 1}, 1}, {{:p, 2}, 2}, {{:q, 1}, 3}, {1.0, :float}]

      for type <- [:set, :ordered_set, :duplicate_bag],
          spec <- [
            # bound keys (lookups)
            [{{5, :"$2"}, [], [{{5, :x}}]}, {{1.0, :_}, [], [{{{:const, 1.0}, :y}}]}],
            # a key range on ordered_set
            [{{{:p, :"$1"}, :"$2"}, [], [{{{{:p, :"$1"}}, {:+, :"$2", 1}}}]}],
            # the whole table, several chunks
            [{{:"$1", :"$2"}, [{:is_integer, :"$2"}, {:<, :"$2", 3}], [{{:"$1", :small}}]}],
            # key element taken from the object
            [{{:"$1", 3}, [], [{{{:element, 1, :"$_"}, :three}}]}]
          ] do
        both(type, objs, fn mod, t -> mod.select_replace(t, spec) end)
      end
    end

    test "specs that do not keep the key raise and replace nothing" do
      objs = for k <- 1..50, do: {k, k}

      for type <- [:set, :ordered_set, :duplicate_bag],
          spec <- [
            [{{:"$1", :"$2"}, [], [{{:"$2", :"$1"}}]}],
            [{{1, :"$2"}, [], [{{{:const, 1.0}, :"$2"}}]}],
            [{{:"$1", :"$2"}, [], [:"$_"]}, {{:"$1", :"$2"}, [], [{{:k, 1}}]}]
          ] do
        both(type, objs, fn mod, t ->
          try do
            mod.select_replace(t, spec)
          rescue
            e in ArgumentError -> {:raised, e.__struct__}
          catch
            :error, :badarg -> {:raised, ArgumentError}
          end
        end)
      end
    end
  end

  test "replaced objects keep VM-refcounted terms alive" do
    t = Tsunami.new(:pins, [:set, :public])
    Tsunami.insert(t, for(k <- 1..10, do: {k, 0}))
    fresh = fn -> :atomics.new(1, []) end
    assert Tsunami.select_replace(t, [{{:"$1", :_}, [], [{{:"$1", {:const, fresh.()}}}]}]) == 10
    :erlang.garbage_collect()
    # The reference now lives only in the table; a second replacement carries it over.
    assert Tsunami.select_replace(t, [{{:"$1", :"$2"}, [], [{{:"$1", :"$2", :kept}}]}]) == 10
    :erlang.garbage_collect()
    [{3, ref, :kept}] = Tsunami.lookup(t, 3)
    :atomics.add(ref, 1, 7)
    assert :atomics.get(ref, 1) == 7
  end
end
