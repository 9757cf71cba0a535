defmodule Tsunami.OrderedSetTest do
  @moduledoc """
  `ordered_set` parity with the real `:ets` (see `Tsunami.Oracle`), with and without
  `write_concurrency` (the contention-adapting tree), for every function Tsunami offers on
  `ordered_set`: key equality is `==` (term order), so `1` and `1.0` are one key, and
  traversal / `tab2list` are in term order (compared exactly, order included).
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  defp port do
    case Port.list() do
      [p | _] -> p
      [] -> Port.open({:spawn, "cat"}, [])
    end
  end

  # Keys of every type, several of them `==` to each other (1, 1.0; 0, 0.0, -0.0; ...).
  defp keys do
    y = 7
    big_map = Map.new(1..40, &{&1, {&1}})

    [
      1,
      1.0,
      0,
      0.0,
      -0.0,
      -1,
      2.5,
      -2.5,
      2 ** 53,
      2 ** 53 + 1,
      2 ** 53 - 1,
      2.0 ** 53,
      2 ** 54 + 2,
      2 ** 63 - 1,
      2 ** 63,
      2.0 ** 63,
      2 ** 64,
      2.0 ** 64,
      -(2 ** 100),
      -(2.0 ** 100),
      2 ** 1024,
      1.7976931348623157e308,
      -1.7976931348623157e308,
      5.0e-324,
      {1, 2},
      {1.0, 2},
      {1, 2.0, :x},
      {},
      {{}},
      [],
      [1],
      [1.0],
      [1, 2 | :tail],
      [1 | 2],
      [[]],
      %{},
      %{1 => :a},
      %{1.0 => :a},
      %{a: 1},
      %{a: 1.0},
      big_map,
      Map.put(big_map, 41, :x),
      :atom,
      :a,
      :b,
      :"",
      :ä,
      :日本,
      :日本語,
      :zzz,
      make_ref(),
      make_ref(),
      self(),
      spawn(fn -> :ok end),
      port(),
      fn x -> x + y end,
      fn x -> x end,
      &Enum.map/2,
      &Enum.reduce/3,
      <<>>,
      "",
      "bin",
      "bio",
      <<1::3>>,
      <<1::4>>,
      <<255, 1::7>>,
      <<255>>
    ]
  end

  # Keys not in `keys/0`, for neighbour search (next/prev/lookup of absent keys).
  defp absent_keys do
    [
      -(2 ** 200),
      0.5,
      1.5,
      2 ** 53 + 3,
      2 ** 70,
      1.0e300,
      :aa,
      :ö,
      {0},
      {1, 3},
      {1, 2, 3, 4},
      [0],
      [1, 2],
      %{b: 1},
      %{1 => :b},
      "bim",
      <<1::2>>,
      <<0>>,
      make_ref()
    ]
  end

  for wc <- [false, true] do
    @opts [:ordered_set, :public, {:write_concurrency, wc}]

    describe "write_concurrency #{wc}" do
      setup do
        p = Oracle.new(@opts)
        on_exit(fn -> Oracle.delete(p) end)
        %{p: p, opts: @opts}
      end

      test "1 and 1.0 are the same key; the stored key is the last inserted", %{p: p} do
        Oracle.check(p, fn m, t -> m.insert(t, {1, :y}) end)
        Oracle.check(p, fn m, t -> m.insert(t, {1.0, :x}) end)

        for k <- [1, 1.0] do
          assert {:ok, [{1.0, :x}]} = Oracle.check(p, fn m, t -> m.lookup(t, k) end)
          Oracle.check(p, fn m, t -> m.member(t, k) end)
          Oracle.check(p, fn m, t -> m.lookup_element(t, k, 1) end)
          Oracle.check(p, fn m, t -> m.lookup_element(t, k, 2) end)
        end

        Oracle.check(p, fn m, t -> m.insert(t, {1, :z}) end)
        assert {:ok, [{1, :z}]} = Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.insert(t, [{2, :a}, {2.0, :b}, {3.0, :c}]) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.info(t, :size) end)
      end

      test "all key types: insert, tab2list in term order, lookup, member", %{p: p} do
        ks = keys()

        for {k, i} <- Enum.with_index(ks) do
          Oracle.check(p, fn m, t -> m.insert(t, {k, i}) end)
        end

        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.info(t, :size) end)

        for k <- ks ++ absent_keys() do
          Oracle.check(p, fn m, t -> m.lookup(t, k) end)
          Oracle.check(p, fn m, t -> m.member(t, k) end)
        end

        # Reinsert in reverse order: same keys, other values and sometimes other stored keys.
        for {k, i} <- ks |> Enum.with_index() |> Enum.reverse() do
          Oracle.check(p, fn m, t -> m.insert(t, {k, -i}) end)
        end

        Oracle.check(p, fn m, t -> m.tab2list(t) end)
      end

      test "first/next/last/prev, keys present and absent", %{p: p} do
        Oracle.check(p, fn m, t -> m.first(t) end)
        Oracle.check(p, fn m, t -> m.last(t) end)
        Oracle.check(p, fn m, t -> m.next(t, 1) end)
        Oracle.check(p, fn m, t -> m.prev(t, 1) end)

        ks = keys()
        Oracle.check(p, fn m, t -> m.insert(t, Enum.map(ks, &{&1})) end)

        # Full walks forwards and backwards.
        walk = fn m, t, start, step ->
          Stream.unfold(start.(m, t), fn
            :"$end_of_table" -> nil
            k -> {k, step.(m, t, k)}
          end)
          |> Enum.to_list()
        end

        Oracle.check(p, fn m, t -> walk.(m, t, & &1.first(&2), & &1.next(&2, &3)) end)
        Oracle.check(p, fn m, t -> walk.(m, t, & &1.last(&2), & &1.prev(&2, &3)) end)

        for k <- ks ++ absent_keys() do
          Oracle.check(p, fn m, t -> m.next(t, k) end)
          Oracle.check(p, fn m, t -> m.prev(t, k) end)
        end
      end

      test "delete_object matches exactly, delete/take/delete_all_objects use ==", %{p: p} do
        Oracle.check(p, fn m, t -> m.insert(t, [{1, :a}, {2, :b}, {{1, 2}, :c}, {3.0, :d}]) end)
        # {1.0, a} does not match {1, a}
        Oracle.check(p, fn m, t -> m.delete_object(t, {1.0, :a}) end)
        assert {:ok, [{1, :a}]} = Oracle.check(p, fn m, t -> m.lookup(t, 1) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {{1.0, 2}, :c}) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {1, :other}) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {3, :d}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {1, :a}) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {3.0, :d}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check_raise(p, fn m, t -> m.delete_object(t, :not_a_tuple) end)
        Oracle.check_raise(p, fn m, t -> m.delete_object(t, {}) end)

        # delete / take with an == key
        Oracle.check(p, fn m, t -> m.delete(t, 2.0) end)
        Oracle.check(p, fn m, t -> m.take(t, {1.0, 2.0}) end)
        Oracle.check(p, fn m, t -> m.take(t, {1.0, 2.0}) end)
        ks = keys()
        Oracle.check(p, fn m, t -> m.insert(t, Enum.map(ks, &{&1, :v})) end)
        Oracle.check(p, fn m, t -> m.take(t, 2.0 ** 53) end)
        Oracle.check(p, fn m, t -> m.take(t, -(2.0 ** 100)) end)
        Oracle.check(p, fn m, t -> m.delete(t, %{1.0 => :a}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.delete_all_objects(t) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.first(t) end)
        Oracle.check(p, fn m, t -> m.info(t, :size) end)
      end

      test "update_counter/3,4 and update_element", %{p: p} do
        Oracle.check(p, fn m, t -> m.insert(t, [{1, 0, 10}, {{:k, 1}, 5, 5}, {:a, :x, 1}]) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 1.0, 1) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 1, {3, -20, 0, 7}) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, {:k, 1.0}, [{2, 1}, {3, 2 ** 64}]) end)
        Oracle.check_raise(p, fn m, t -> m.update_counter(t, :a, 1) end)
        Oracle.check_raise(p, fn m, t -> m.update_counter(t, 1, {1, 1}) end)
        Oracle.check_raise(p, fn m, t -> m.update_counter(t, :missing, 1) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 2.0, 3, {2, 10}) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 2, 3, {2, 10}) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 2 ** 53, 1, {0, 0}) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 2.0 ** 53, 1, {0, 0}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)

        Oracle.check(p, fn m, t -> m.update_element(t, 1.0, {2, :new}) end)
        Oracle.check(p, fn m, t -> m.update_element(t, {:k, 1}, [{2, :a}, {3, :b}]) end)
        Oracle.check(p, fn m, t -> m.update_element(t, :missing, {2, :a}) end)
        Oracle.check_raise(p, fn m, t -> m.update_element(t, 1, {1, 2}) end)
        Oracle.check_raise(p, fn m, t -> m.update_element(t, 1, {9, 2}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
      end

      test "insert_new with single objects and lists", %{p: p} do
        Oracle.check(p, fn m, t -> m.insert_new(t, {1, :a}) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, {1.0, :b}) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, [{2, :a}, {3, :b}]) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, [{4, :a}, {1.0, :b}]) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, [{5, :a}, {5.0, :b}, {6, :c}]) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, []) end)
        Oracle.check_raise(p, fn m, t -> m.insert_new(t, [{7, :a}, :bad]) end)
        Oracle.check_raise(p, fn m, t -> m.insert_new(t, [{7, :a} | {8, :b}]) end)
        Oracle.check_raise(p, fn m, t -> m.insert(t, [{}]) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
      end

      test "info, whereis, all, rename, give_away, setopts", %{p: p} do
        Oracle.check(p, fn m, t -> m.insert(t, {1, 2}) end)

        for item <- [:type, :keypos, :size, :protection, :write_concurrency, :name, :named_table] do
          Oracle.check(p, fn m, t -> m.info(t, item) end)
        end

        assert p.tsu in Tsunami.all()
        Oracle.check(p, fn m, t -> m.setopts(t, {:heir, self(), :h}) end)
        Oracle.check(p, fn m, t -> m.info(t, :heir) end)
        Oracle.check_raise(p, fn m, t -> m.setopts(t, {:bogus, 1}) end)

        heir = spawn(fn -> Process.sleep(:infinity) end)
        Oracle.check(p, fn m, t -> m.give_away(t, heir, :gift) end)
        Oracle.check(p, fn m, t -> m.info(t, :owner) end)
        Oracle.check(p, fn m, t -> m.lookup(t, 1.0) end)
        Process.exit(heir, :kill)
      end

      test "named table, rename, whereis", %{opts: opts} do
        name = :"os_named_#{System.unique_integer([:positive])}"
        p = Oracle.new([:named_table | opts], name)
        Oracle.check(p, fn m -> m.insert(name, {2.0, :a}) end)
        Oracle.check(p, fn m -> m.lookup(name, 2) end)
        new = :"#{name}_renamed"
        Oracle.check(p, fn m -> m.rename(name, new) end)
        Oracle.check(p, fn m -> m.next(new, 1) end)
        Oracle.check(p, fn m -> m.info(new, :name) end)
        refute Tsunami.whereis(new) == :undefined
        Oracle.check(p, fn m -> m.delete(new) end)
        Oracle.check(p, fn m -> m.whereis(new) end)
      end

      test "keypos 2", %{opts: opts} do
        p = Oracle.new([{:keypos, 2} | opts])

        Oracle.check(p, fn m, t ->
          m.insert(t, [{:a, 1}, {:b, 1.0}, {:c, 2, :x}, {:d, {1, 2}}])
        end)

        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.lookup(t, 1) end)
        Oracle.check(p, fn m, t -> m.next(t, 1.5) end)
        Oracle.check(p, fn m, t -> m.prev(t, 1.5) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {:b, 1}) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {:b, 1.0}) end)
        Oracle.check(p, fn m, t -> m.update_counter(t, 2.0, {3, 1}) end)
        Oracle.check(p, fn m, t -> m.update_element(t, 2, {1, :cc}) end)
        Oracle.check_raise(p, fn m, t -> m.update_element(t, 2, {2, 5}) end)
        Oracle.check_raise(p, fn m, t -> m.insert(t, {:too_short}) end)
        Oracle.check(p, fn m, t -> m.take(t, {1.0, 2}) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.delete(p)
      end

      test "big integers near float precision", %{p: p} do
        ints =
          for k <- [52, 53, 54, 63, 64, 65, 100, 1023, 1024], d <- -2..2, s <- [1, -1] do
            s * (2 ** k + d)
          end

        floats = for k <- [52, 53, 54, 63, 64, 65, 100, 1023], s <- [1, -1], do: s * 2.0 ** k

        for {k, i} <- Enum.with_index(ints ++ floats) do
          Oracle.check(p, fn m, t -> m.insert(t, {k, i}) end)
        end

        Oracle.check(p, fn m, t -> m.tab2list(t) end)

        for k <- ints ++ floats do
          Oracle.check(p, fn m, t -> {m.lookup(t, k), m.next(t, k), m.prev(t, k)} end)
        end
      end
    end
  end

  # Keys keep -0.0 as inserted (as :ets), and delete_object({7, 0.0}) still deletes a
  # stored {7, -0.0}: -0.0 =:= 0.0 on OTP 25.
  test "delete_object with keypos 2 and a -0.0 key" do
    for wc <- [false, true] do
      p = Oracle.new([:ordered_set, {:keypos, 2}, {:write_concurrency, wc}])
      Oracle.check(p, fn m, t -> m.insert(t, {7, -0.0}) end)
      Oracle.check(p, fn m, t -> m.delete_object(t, {7, 0.0}) end)
      Oracle.check(p, fn m, t -> m.tab2list(t) end)
      Oracle.delete(p)
    end
  end

  # ---------------------------------------------------------------------------
  # Term order: Tsunami's comparator (through the table) vs Erlang's own comparison.

  defmodule Gen do
    @moduledoc false
    # Random terms of every type, from a seeded :rand state kept in the process dictionary.
    import Bitwise, only: [<<<: 2]

    def setup(seed) do
      :rand.seed(:exsss, {seed, seed * 7 + 1, seed * 13 + 2})

      pools = %{
        refs: for(_ <- 1..5, do: make_ref()),
        pids: [self() | Enum.take(Process.list(), 5)] ++ [spawn(fn -> :ok end)] ++ made_pids(),
        ports: ports() ++ made_ports(),
        funs: funs(),
        atoms: [:a, :b, :ab, :"", :z, :ä, :äb, :日本, :日本語, nil, true, false, :A, :ñ]
      }

      Process.put(:gen_pools, pools)
    end

    # Local pids with non-zero serials and large numbers (as a VM that has spawned more
    # processes than its table holds has): ERTS orders them by serial, then number.
    defp made_pids do
      for {n, s} <- [{0, 1}, {251, 1}, {29893, 0}, {32767, 0}, {1, 8191}, {32767, 8191}, {77, 2}],
          do: :erlang.list_to_pid(~c"<0.#{n}.#{s}>")
    end

    defp made_ports do
      for n <- [5, 255, 4096, 65535, 70000, 268_435_455],
          do: :erlang.list_to_port(~c"#Port<0.#{n}>")
    end

    defp ports do
      case Port.list() do
        [] -> [Port.open({:spawn, "cat"}, [])]
        ps -> Enum.take(ps, 4)
      end
    end

    defp funs do
      a = 1
      b = 2.0

      [
        fn -> a end,
        fn -> b end,
        fn x -> x end,
        fn x, y -> {x, y, a} end,
        &Enum.map/2,
        &Enum.reduce/3,
        &:lists.reverse/1,
        &Kernel.+/2
      ]
    end

    defp pick(l), do: Enum.at(l, :rand.uniform(length(l)) - 1)
    defp pool(k), do: pick(Map.fetch!(Process.get(:gen_pools), k))

    @powers [0, 1, 7, 8, 27, 28, 31, 32, 52, 53, 54, 59, 60, 63, 64, 65, 100, 1023, 1024, 1100]

    @fpowers Enum.filter(@powers, &(&1 < 1024)) ++ [-1, -20, -1074]

    def int do
      case :rand.uniform(5) do
        1 -> :rand.uniform(21) - 11
        2 -> :rand.uniform(1 <<< 64) - (1 <<< 63)
        3 -> sign() * ((1 <<< pick(@powers)) + :rand.uniform(5) - 3)
        4 -> sign() * :rand.uniform(1 <<< 200)
        5 -> :rand.uniform(2001) - 1001
      end
    end

    def float do
      case :rand.uniform(6) do
        1 -> pick([0.0, -0.0, 1.0, -1.0, 0.5, 5.0e-324, 1.7976931348623157e308])
        2 -> sign() * :math.pow(2, pick(@fpowers))
        3 -> sign() * :rand.uniform() * :math.pow(10, :rand.uniform(40) - 20)
        4 -> (:rand.uniform(21) - 11) * 1.0
        5 -> sign() * :math.pow(2, pick(@fpowers)) * (1 + :rand.uniform(3) * :math.pow(2, -52))
        6 -> sign() * (:rand.uniform(1 <<< 60) * 1.0)
      end
    end

    defp sign, do: if(:rand.uniform(2) == 1, do: 1, else: -1)

    def term(depth \\ 3) do
      n = if depth <= 0, do: 11, else: 16

      case :rand.uniform(n) do
        1 -> int()
        2 -> float()
        3 -> int()
        4 -> float()
        5 -> pool(:atoms)
        6 -> pool(:refs)
        7 -> pool(:pids)
        8 -> pool(:ports)
        9 -> pool(:funs)
        10 -> rand_bytes(:rand.uniform(4) - 1)
        11 -> bits()
        12 -> for(_ <- 1..(:rand.uniform(4) - 1)//1, do: term(depth - 1)) |> List.to_tuple()
        13 -> for(_ <- 1..(:rand.uniform(4) - 1)//1, do: term(depth - 1))
        14 -> improper(depth)
        15 -> small_map(depth)
        16 -> big_map(depth)
      end
    end

    defp bits do
      n = :rand.uniform(7)
      <<rand_bytes(:rand.uniform(3) - 1)::binary, :rand.uniform(128) - 1::size(n)>>
    end

    defp rand_bytes(n), do: for(_ <- 1..n//1, into: <<>>, do: <<:rand.uniform(256) - 1>>)

    defp improper(depth) do
      heads = for _ <- 1..:rand.uniform(3), do: term(depth - 1)
      tail = pick([:t, 1, 1.0, "t", {}])
      List.foldr(heads, tail, fn h, acc -> [h | acc] end)
    end

    defp small_map(depth) do
      for _ <- 1..(:rand.uniform(4) - 1)//1, into: %{} do
        k = if :rand.uniform(2) == 1, do: pick([1, 1.0, 2, 2.0, :a, 0.0, -0.0]), else: term(0)
        {k, term(depth - 1)}
      end
    end

    # > 32 keys: a HAMT map in the VM.
    defp big_map(depth) do
      base = Map.new(1..33, &{&1, &1})

      for _ <- 1..:rand.uniform(4), into: base do
        {pick([1, 1.0, 34, 34.0, :a, 100 + :rand.uniform(5)]), term(min(depth - 1, 0))}
      end
    end
  end

  defp cmp(a, b) when a < b, do: :lt
  defp cmp(a, b) when a == b, do: :eq
  defp cmp(_, _), do: :gt

  # One round: `n` random keys into a Tsunami and an :ets ordered_set, tab2list compared
  # exactly; every key's rank (position in Tsunami's order, found with `lookup`) checked
  # against Erlang's comparison for `pairs` random pairs; next/prev of absent keys.
  # Returns the number of pairwise comparisons checked.
  defp order_round(seed, n, pairs, wc) do
    Gen.setup(seed)
    opts = [:ordered_set, :public, {:write_concurrency, wc}]
    t = Tsunami.new(:order, opts)
    e = :ets.new(:order, opts)

    try do
      keys = for(_ <- 1..n, do: Gen.term()) |> List.to_tuple()

      for k <- Tuple.to_list(keys) do
        Tsunami.insert(t, {k})
        :ets.insert(e, {k})
      end

      tl = Tsunami.tab2list(t)
      el = :ets.tab2list(e)

      unless Oracle.same?(tl, el) do
        diff =
          Enum.zip(tl, el)
          |> Enum.find(fn {a, b} -> not Oracle.same?(a, b) end)

        flunk("seed #{seed}: tab2list differs, first difference (tsunami, ets): #{inspect(diff)}")
      end

      # Ranks in Tsunami's order, read back through the tree (lookup).
      for {{k}, i} <- Enum.with_index(tl), do: Tsunami.insert(t, {k, i})

      rank = fn k ->
        [{_, r}] = Tsunami.lookup(t, k)
        r
      end

      ranks = keys |> Tuple.to_list() |> Enum.map(rank) |> List.to_tuple()

      for _ <- 1..pairs do
        i = :rand.uniform(n) - 1
        j = :rand.uniform(n) - 1
        a = elem(keys, i)
        b = elem(keys, j)

        unless cmp(elem(ranks, i), elem(ranks, j)) == cmp(a, b) do
          flunk(
            "seed #{seed}: order differs for #{inspect(a)} vs #{inspect(b)}: erlang #{cmp(a, b)}"
          )
        end
      end

      # Neighbours of absent keys.
      for _ <- 1..div(n, 10) do
        k = Gen.term()

        got = {Tsunami.next(t, k), Tsunami.prev(t, k), Tsunami.member(t, k)}
        want = {:ets.next(e, k), :ets.prev(e, k), :ets.member(e, k)}
        assert Oracle.same?(got, want), "seed #{seed}: neighbours of #{inspect(k)}"
      end

      pairs
    after
      Tsunami.delete(t)
      :ets.delete(e)
    end
  end

  defp order_rounds(rounds, n, pairs) do
    total =
      for seed <- 1..rounds, reduce: 0 do
        acc -> acc + order_round(seed, n, pairs, rem(seed, 2) == 0)
      end

    # Also implied by the exact tab2list comparisons: n*(n-1)/2 per round.
    IO.puts(
      "term order: #{total} direct pair checks, #{rounds * div(n * (n - 1), 2)} pairs implied by tab2list"
    )

    total
  end

  test "term order agrees with Erlang (>= 10^6 pairs)" do
    assert order_rounds(50, 2000, 20_000) >= 1_000_000
  end

  @tag :long
  @tag timeout: 600_000
  test "term order agrees with Erlang (long: 10^7 pairs)" do
    assert order_rounds(200, 5000, 50_000) >= 10_000_000
  end

  test "tricky numeric pairs, checked directly" do
    ints =
      for k <- [0, 1, 31, 32, 52, 53, 54, 59, 60, 63, 64, 65, 100, 1023, 1024, 1025],
          d <- -3..3,
          s <- [1, -1],
          do: s * (2 ** k + d)

    floats =
      for k <- [0, 1, 31, 32, 52, 53, 54, 59, 60, 63, 64, 65, 100, 1023],
          s <- [1.0, -1.0],
          m <- [1.0, 1.0 + :math.pow(2, -52), 1.0 - :math.pow(2, -53)],
          do: s * m * :math.pow(2, k)

    nums = ints ++ floats ++ [0.0, -0.0, 5.0e-324, -5.0e-324, 1.7976931348623157e308, 0.5]

    for wc <- [false, true] do
      t = Tsunami.new(:pairs, [:ordered_set, {:write_concurrency, wc}])

      for a <- nums, b <- nums do
        Tsunami.delete_all_objects(t)
        Tsunami.insert(t, [{a, :a}, {b, :b}])
        first = Tsunami.first(t)

        case cmp(a, b) do
          :eq ->
            assert Tsunami.info(t, :size) == 1, "#{inspect(a)} == #{inspect(b)}"
            assert [{^b, :b}] = Tsunami.lookup(t, a)

          :lt ->
            assert first === a and Tsunami.next(t, a) === b, "#{inspect(a)} < #{inspect(b)}"
            assert Tsunami.prev(t, b) === a

          :gt ->
            assert first === b and Tsunami.next(t, b) === a, "#{inspect(a)} > #{inspect(b)}"
        end
      end

      Tsunami.delete(t)
    end
  end

  # ---------------------------------------------------------------------------
  # Concurrency

  @tag timeout: 120_000
  test "several processes on one write_concurrency ordered_set: exact final contents" do
    t = Tsunami.new(:stress, [:ordered_set, :public, {:write_concurrency, true}])
    procs = max(4, 2 * System.schedulers_online())
    shared = 0..1999
    rounds = 20

    parent = self()

    pids =
      for p <- 1..procs do
        spawn_link(fn ->
          :rand.seed(:exsss, {p, 2, 3})

          for r <- 1..rounds do
            # Own keys {p, j}: insert all, delete the odd ones (deterministic).
            for j <- 0..499, do: Tsunami.insert(t, {{p, j}, r})
            for j <- 0..499, rem(j, 2) == 1, do: Tsunami.delete(t, {p, j})

            # Shared keys: random inserts (int or float key) and deletes.
            for _ <- 1..1000 do
              k = Enum.random(shared)

              case :rand.uniform(4) do
                1 -> Tsunami.delete(t, k)
                2 -> Tsunami.insert(t, {k * 1.0, p})
                _ -> Tsunami.insert(t, {k, p})
              end

              Tsunami.next(t, k)
            end
          end

          # Last op of every process on each shared key is the same, so the final state
          # does not depend on the interleaving.
          for k <- shared do
            if rem(k, 3) == 0, do: Tsunami.delete(t, k), else: Tsunami.insert(t, {k, :final})
          end

          send(parent, {:done, self()})
        end)
      end

    for pid <- pids, do: assert_receive({:done, ^pid}, 100_000)
    contended = Tsunami.info(t, :stats)

    expected =
      (for(k <- shared, rem(k, 3) != 0, do: {k, :final}) ++
         for(p <- 1..procs, j <- 0..499, rem(j, 2) == 0, do: {{p, j}, rounds}))
      |> Enum.sort()

    assert Tsunami.tab2list(t) === expected

    # Contention on 2 cores is light and timing dependent, so split the tree for sure:
    # with splits forced, rewriting every object splits base nodes across the table.
    true = Tsunami.Native.debug_force_split(t, true)
    for obj <- expected, do: Tsunami.insert(t, obj)
    true = Tsunami.Native.debug_force_split(t, false)
    split = Tsunami.info(t, :stats)
    assert elem(split, 0) > 100
    assert Tsunami.tab2list(t) === expected

    # Quiet phase: one process only, so the tree joins base nodes again.
    deadline = System.monotonic_time(:millisecond) + 500
    quiet(t, deadline, 0)
    quiet_stats = Tsunami.info(t, :stats)
    assert Tsunami.tab2list(t) === expected

    IO.puts(
      "ordered_set stress (#{procs} procs, #{System.schedulers_online()} schedulers): " <>
        "stats after contention #{inspect(contended)}, after quiet phase #{inspect(quiet_stats)}"
    )

    # Uncontended writes drive the statistic down until base nodes join.
    assert elem(quiet_stats, 0) < elem(split, 0)
    Tsunami.delete(t)
  end

  defp quiet(t, deadline, i) do
    if System.monotonic_time(:millisecond) < deadline do
      k = rem(i, 2000)
      Tsunami.lookup(t, k)
      Tsunami.insert(t, {{:q, k}, i})
      Tsunami.delete(t, {:q, k})
      quiet(t, deadline, i + 1)
    else
      :ok
    end
  end
end
