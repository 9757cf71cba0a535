defmodule Tsunami.CodecFuzzTest do
  @moduledoc """
  Random terms of every type through the store: what comes back is `===` (and has the
  same external format) as what went in, and a key built differently but equal finds
  the object. Seeded from ExUnit's seed (printed on failure).
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @cases 3_000

  # --- random term generator (:rand, seeded) --------------------------------

  defp gen(depth) do
    leaf? = depth <= 0 or :rand.uniform(3) == 1

    if leaf? do
      leaf()
    else
      case :rand.uniform(6) do
        1 -> gen_list(depth) |> List.to_tuple()
        2 -> gen_list(depth)
        3 -> improper(depth)
        4 -> gen_map(depth, :rand.uniform(4))
        5 -> for _ <- 1..(30 + :rand.uniform(20)), into: %{}, do: {leaf(), leaf()}
        6 -> {gen(depth - 1)}
      end
    end
  end

  defp gen_list(depth), do: for(_ <- 1..:rand.uniform(4)//1, do: gen(depth - 1)) |> maybe_empty()

  defp maybe_empty(l), do: if(:rand.uniform(8) == 1, do: [], else: l)

  defp improper(depth) do
    tail = leaf_non_list()
    Enum.reduce(gen_list(depth), tail, fn x, acc -> [x | acc] end)
  end

  defp gen_map(depth, n) do
    for _ <- 1..n, into: %{}, do: {gen(depth - 2), gen(depth - 1)}
  end

  defp leaf_non_list do
    case leaf() do
      l when is_list(l) -> :tail
      x -> x
    end
  end

  defp leaf do
    case :rand.uniform(22) do
      1 -> :rand.uniform(200) - 100
      2 -> Enum.random([0, -1, 2 ** 27, 2 ** 59 - 1, 2 ** 59, -(2 ** 59), -(2 ** 59) - 1])
      3 -> Enum.random([2 ** 60, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 64), 2 ** 64 - 1])
      4 -> (:rand.uniform(2) * 2 - 3) * :rand.uniform(2 ** 300)
      5 -> Enum.random([0.0, -0.0, 1.0, -1.5, 1.0e300, -1.0e-300, 5.0e-324, 3.14])
      6 -> :rand.uniform() * 1.0e10 - 5.0e9
      7 -> :crypto.strong_rand_bytes(:rand.uniform(20) - 1)
      8 -> :crypto.strong_rand_bytes(60 + :rand.uniform(200))
      9 -> <<:rand.uniform(255)::size(:rand.uniform(7))>>
      10 -> <<:crypto.strong_rand_bytes(3)::binary, 1::size(:rand.uniform(7))>>
      11 -> Enum.random([:a, :b, nil, true, false, :héllo, :日本語, :"", :"$end_of_table"])
      12 -> make_ref()
      13 -> Enum.random([self(), spawn(fn -> :ok end), :c.pid(0, 0, 0)])
      14 -> Enum.random(ports())
      15 -> Enum.random(funs())
      16 -> []
      17 -> {}
      18 -> %{}
      19 -> ""
      20 -> String.duplicate("é", :rand.uniform(10))
      21 -> :rand.uniform(1000) * 1.0
      22 -> Enum.random([1, 1.0])
    end
  end

  defp ports, do: Port.list() |> Enum.take(3) |> then(&if(&1 == [], do: [:no_port], else: &1))

  defp funs do
    x = :rand.uniform(100)
    [fn -> x end, &Enum.map/2, &String.length/1, fn a, b -> {a, b, x} end]
  end

  # The same term built another way: maps re-inserted in reverse order, everything else
  # rebuilt through the external format.
  defp rebuild(t) when is_map(t) do
    t
    |> Map.to_list()
    |> Enum.reverse()
    |> Enum.reduce(%{}, fn {k, v}, acc -> Map.put(acc, rebuild(k), rebuild(v)) end)
  end

  defp rebuild(t) when is_tuple(t),
    do: t |> Tuple.to_list() |> Enum.map(&rebuild/1) |> List.to_tuple()

  defp rebuild([h | t]), do: [rebuild(h) | rebuild(t)]
  defp rebuild(t), do: :erlang.binary_to_term(:erlang.term_to_binary(t))

  defp identical?(a, b), do: Oracle.same?(a, b)

  # Table contents, in a canonical order (ordered_set: its own order, which is checked).
  defp contents(mod, tab, :ordered_set), do: mod.tab2list(tab)
  defp contents(mod, tab, _type), do: Oracle.sort(mod.tab2list(tab))

  for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
    @type_ type
    test "#{type}: random terms round-trip as keys and values, found by equal keys, as :ets" do
      type = @type_
      seed = ExUnit.configuration()[:seed]
      :rand.seed(:exsss, {seed, 1, :erlang.phash2(type)})
      t = Tsunami.new(:fuzz, [type])
      e = :ets.new(:fuzz, [type])

      # Everything stays in the tables: objects meet many others (and equal keys
      # built differently) in the same buckets and trees.
      keys =
        for i <- 1..@cases do
          term = gen(:rand.uniform(4))
          key = rebuild(term)
          ctx = "#{type}, seed #{seed}, case #{i}, term #{inspect(term, limit: 20)}"

          # {{:v, I}, Term}: the value comes back identical.
          for o <- [{{:v, i}, term}, {term, i}] do
            assert Tsunami.insert(t, o) == :ets.insert(e, o), ctx
          end

          assert identical?(Tsunami.lookup(t, {:v, i}), [{{:v, i}, term}]), ctx

          # {Term, I}: found by the rebuilt key, identical to what :ets returns.
          assert identical?(
                   Oracle.sort(Tsunami.lookup(t, key)),
                   Oracle.sort(:ets.lookup(e, key))
                 ),
                 ctx

          assert Tsunami.member(t, key) == :ets.member(e, key), ctx

          assert identical?(
                   Tsunami.lookup_element(t, key, 2) |> List.wrap() |> Enum.sort(),
                   :ets.lookup_element(e, key, 2) |> List.wrap() |> Enum.sort()
                 ),
                 ctx

          if rem(i, 1500) == 0 do
            assert identical?(contents(Tsunami, t, type), contents(:ets, e, type)), ctx
          end

          key
        end

      assert Tsunami.info(t, :size) == :ets.info(e, :size)
      assert identical?(contents(Tsunami, t, type), contents(:ets, e, type))

      # Delete every other key (by the rebuilt term): the same objects go.
      for {key, i} <- Enum.with_index(keys), rem(i, 2) == 0 do
        assert Tsunami.delete(t, key) == :ets.delete(e, key)
        assert Tsunami.lookup(t, key) == []
      end

      assert Tsunami.info(t, :size) == :ets.info(e, :size)
      assert identical?(contents(Tsunami, t, type), contents(:ets, e, type))
      IO.puts("\ncodec fuzz: #{@cases} random terms in one #{type} table (seed #{seed})")
    end
  end

  test "terms compare as :ets does: 1 vs 1.0, maps with float keys, big ints" do
    t = Tsunami.new(:fuzz_eq, [])

    pairs = [
      {1, 1.0},
      {%{1 => :a}, %{1.0 => :a}},
      {[1 | 2], [1 | 2.0]},
      {{2 ** 64}, {2 ** 64 * 1.0}},
      {<<1::3>>, <<1::4>>},
      {<<0::8>>, <<0::7>>},
      {:a, "a"},
      {[], {}}
    ]

    for {a, b} <- pairs do
      Tsunami.insert(t, {a, :a})
      assert Tsunami.lookup(t, b) == [], inspect({a, b})
      Tsunami.insert(t, {b, :b})
      assert identical?(Tsunami.lookup(t, a), [{a, :a}])
      assert identical?(Tsunami.lookup(t, b), [{b, :b}])
    end
  end

  test "magic references stay alive while stored" do
    t = Tsunami.new(:keepalive, [])
    insert_atomics(t)
    :erlang.garbage_collect()
    Process.sleep(10)
    :erlang.garbage_collect()
    [{:k, ref}] = Tsunami.lookup(t, :k)
    :ok = :atomics.put(ref, 1, 42)
    assert :atomics.get(ref, 1) == 42
    [{:k, ref2}] = Tsunami.lookup(t, :k)
    assert :atomics.get(ref2, 1) == 42

    # also in a value set by update_element and inside nested terms
    Tsunami.insert(t, {:nested, [%{a: {fn -> :x end}}]})
    insert_atomics_via_update(t)
    :erlang.garbage_collect()
    [{:nested, [%{a: {:atomics, r3}}]}] = Tsunami.lookup(t, :nested)
    :atomics.add(r3, 1, 5)
    assert :atomics.get(r3, 1) == 5
  end

  defp insert_atomics(t) do
    Tsunami.insert(t, {:k, :atomics.new(1, [])})
    :ok
  end

  defp insert_atomics_via_update(t) do
    true = Tsunami.update_element(t, :nested, {2, [%{a: {:atomics, :atomics.new(1, [])}}]})
    :ok
  end

  test "deep terms (100_000 levels) do not crash" do
    t = Tsunami.new(:deep, [])
    deep = Enum.reduce(1..100_000, :leaf, fn i, acc -> {i, acc} end)
    deep_list = Enum.reduce(1..100_000, [], fn _, acc -> [acc] end)
    deep_map = Enum.reduce(1..200, :leaf, fn _, acc -> %{k: acc} end)

    for d <- [deep, deep_list, deep_map] do
      Tsunami.insert(t, {d, d})
      assert [{k, v}] = Tsunami.lookup(t, d)
      assert k === d and v === d
    end
  end
end
