defmodule Tsunami.ParityTest do
  @moduledoc """
  Function-by-function parity with the real `:ets` (see `Tsunami.Oracle`): results and
  raised errors (reason + formatted error_info message) must be the same.
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @types [:set, :bag, :duplicate_bag]

  # ---------------------------------------------------------------------------
  # Awkward terms

  defp deep_tuple(n), do: Enum.reduce(1..n, :leaf, fn i, acc -> {i, acc} end)
  defp deep_list(n), do: Enum.reduce(1..n, [], fn _, acc -> [acc] end)

  defp port do
    case Port.list() do
      [p | _] -> p
      [] -> Port.open({:spawn, "cat"}, [])
    end
  end

  # Terms that must all be distinct keys in a hash table (`=:=` semantics, OTP 25).
  defp awkward_keys do
    big_map = Map.new(1..40, &{&1, {&1}})
    small_map = %{a: 1, b: 2.0, c: "c"}
    y = 7

    [
      1,
      1.0,
      0.0,
      0,
      -1,
      2.5,
      2 ** 64,
      -(2 ** 100),
      2 ** 59,
      2 ** 59 - 1,
      -(2 ** 59),
      -(2 ** 59) - 1,
      2 ** 60,
      2 ** 60 - 1,
      -(2 ** 60),
      2 ** 63 - 1,
      2 ** 63,
      -(2 ** 63),
      2 ** 64 - 1,
      -(2 ** 64),
      2 ** 1000,
      big_map,
      small_map,
      %{},
      %{1 => :a},
      %{1.0 => :a},
      [1 | 2],
      [1, 2 | :tail],
      [],
      [[]],
      {},
      {{}},
      {1, 2},
      {1.0, 2},
      deep_tuple(10_000),
      deep_list(10_000),
      make_ref(),
      self(),
      port(),
      fn x -> x + y end,
      &Enum.map/2,
      <<1::3>>,
      <<255, 1::7>>,
      <<>>,
      "",
      "bin",
      :binary.copy("x", 1_000_000),
      :atom,
      :héllo,
      :日本語,
      true,
      nil,
      ~c"charlist",
      {:a, [1, 2.0, "x"], %{k: [<<1::1>>]}}
    ]
  end

  # The same keys, built differently (maps in another insertion order, copies through
  # the external format): lookups must find them.
  defp rebuilt(k) when is_map(k) do
    k |> Map.to_list() |> Enum.reverse() |> Enum.reduce(%{}, fn {a, b}, m -> Map.put(m, a, b) end)
  end

  defp rebuilt(k), do: :erlang.binary_to_term(:erlang.term_to_binary(k))

  defp obj(key, val, 1), do: {key, val}
  defp obj(key, val, 2), do: {:tag, key, val}

  defp val_of(i, term), do: {i, term, {}}

  # ---------------------------------------------------------------------------
  # Awkward terms, every type and keypos

  for type <- @types, kp <- [1, 2] do
    @type_ type
    @kp kp
    describe "#{type}, keypos #{kp}" do
      test "awkward keys and values: insert, lookup, member, lookup_element" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        keys = awkward_keys()

        for {k, i} <- Enum.with_index(keys) do
          Oracle.check(p, fn m, t -> m.insert(t, obj(k, val_of(i, k), @kp)) end)
        end

        Oracle.check(p, fn m, t -> m.info(t, :size) end)

        for {k, i} <- Enum.with_index(keys) do
          label = "key ##{i}"
          Oracle.check(p, fn m, t -> m.lookup(t, k) end, label: label)
          Oracle.check(p, fn m, t -> m.lookup(t, rebuilt(k)) end, label: label)
          Oracle.check(p, fn m, t -> m.member(t, rebuilt(k)) end, label: label)

          for pos <- 1..(@kp + 2) do
            Oracle.check(p, fn m, t -> m.lookup_element(t, k, pos) end, label: label)
          end
        end

        Oracle.check_contents(p)

        # 1 vs 1.0 are different keys
        Oracle.check(p, fn m, t -> m.delete(t, 1) end)
        Oracle.check(p, fn m, t -> m.lookup(t, 1.0) end)
        Oracle.check(p, fn m, t -> m.member(t, 1) end)
        Oracle.check_contents(p)
      end

      test "awkward keys: take, delete, delete_object, insert_new" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        keys = awkward_keys()

        for {k, i} <- Enum.with_index(keys) do
          Oracle.check(p, fn m, t -> m.insert_new(t, obj(k, i, @kp)) end)
          Oracle.check(p, fn m, t -> m.insert_new(t, obj(rebuilt(k), :again, @kp)) end)
          Oracle.check(p, fn m, t -> m.insert(t, obj(k, {i, :second}, @kp)) end)
        end

        Oracle.check_contents(p)

        for {k, i} <- Enum.with_index(keys) do
          case rem(i, 3) do
            0 -> Oracle.check(p, fn m, t -> m.take(t, rebuilt(k)) end)
            1 -> Oracle.check(p, fn m, t -> m.delete(t, rebuilt(k)) end)
            2 -> Oracle.check(p, fn m, t -> m.delete_object(t, obj(rebuilt(k), i, @kp)) end)
          end

          Oracle.check(p, fn m, t -> m.lookup(t, k) end)
          Oracle.check(p, fn m, t -> m.take(t, k) end)
        end

        Oracle.check(p, fn m, t -> m.info(t, :size) end)
        Oracle.check_contents(p)
      end

      test "empty tuple and deep terms as values" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.insert(t, obj(:e, {}, @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, obj(:d, deep_tuple(10_000), @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, obj(:l, deep_list(10_000), @kp)) end)
        Oracle.check(p, fn m, t -> m.lookup(t, :e) end)
        Oracle.check(p, fn m, t -> m.lookup(t, :d) end)
        Oracle.check(p, fn m, t -> m.lookup(t, :l) end)
        Oracle.check(p, fn m, t -> m.lookup_element(t, :d, @kp + 1) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, obj(:d, deep_tuple(10_000), @kp)) end)
        Oracle.check_contents(p)
      end

      test "list inserts and insert_new" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.insert(t, []) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, []) end)
        objs = for i <- 1..50, do: obj(rem(i, 20), i, @kp)
        Oracle.check(p, fn m, t -> m.insert(t, Enum.uniq_by(objs, &elem(&1, @kp - 1))) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, [obj(100, 1, @kp), obj(1, 1, @kp)]) end)
        Oracle.check(p, fn m, t -> m.member(t, 100) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, [obj(100, 1, @kp), obj(101, 1, @kp)]) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, obj(100, 2, @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, obj(100, 2, @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, obj(100, 2, @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, obj(100, 1, @kp)) end)
        Oracle.check(p, fn m, t -> m.lookup(t, 100) end)
        Oracle.check_contents(p)
      end

      test "insert errors leave the table unchanged" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.insert(t, obj(:a, 1, @kp)) end)

        bad = [
          :not_a_tuple,
          {},
          {:a},
          [{:x, 1, 1} | :improper],
          [{:x, 1, 1}, :not_a_tuple],
          [{:x, 1, 1}, {}],
          [{:x, 1, 1}, {:y}],
          "string",
          %{a: 1},
          [{:x, 1, 1} | {:y, 1, 1}]
        ]

        for b <- bad do
          Oracle.check(p, fn m, t -> m.insert(t, b) end, label: inspect(b))
          Oracle.check(p, fn m, t -> m.insert_new(t, b) end, label: inspect(b))
        end

        Oracle.check_contents(p)
      end

      test "delete_object and take in detail" do
        p = Oracle.new([@type_, {:keypos, @kp}])

        for v <- [1, 2, 1, 3, 2.0, 2] do
          Oracle.check(p, fn m, t -> m.insert(t, obj(:k, v, @kp)) end)
        end

        Oracle.check(p, fn m, t -> m.lookup(t, :k) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, obj(:k, 2, @kp)) end)
        Oracle.check(p, fn m, t -> m.lookup(t, :k) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, obj(:k, 99, @kp)) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, obj(:missing, 99, @kp)) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, :not_a_tuple) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {}) end)
        Oracle.check(p, fn m, t -> m.delete_object(t, {:k}) end)
        Oracle.check(p, fn m, t -> m.lookup(t, :k) end)
        Oracle.check(p, fn m, t -> m.take(t, :k) end)
        Oracle.check(p, fn m, t -> m.take(t, :k) end)
        Oracle.check(p, fn m, t -> m.delete(t, :k) end)
        Oracle.check_contents(p)
      end

      test "lookup_element over several objects of a key" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.insert(t, obj(:k, 1, @kp)) end)
        Oracle.check(p, fn m, t -> m.insert(t, Tuple.append(obj(:k, 2, @kp), :extra)) end)

        for pos <- [0, -1, 1, 2, 3, 4, 5, :a, 1.0, 2 ** 64] do
          Oracle.check(p, fn m, t -> m.lookup_element(t, :k, pos) end, label: inspect(pos))
          Oracle.check(p, fn m, t -> m.lookup_element(t, :nope, pos) end, label: inspect(pos))
        end
      end

      test "first/next traversal visits every key once" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.first(t) end)

        for i <- 1..300 do
          Oracle.check(p, fn m, t -> m.insert(t, obj(i, i, @kp)) end)
          if @type_ != :set, do: Oracle.check(p, fn m, t -> m.insert(t, obj(i, -i, @kp)) end)
        end

        walk = fn m, t ->
          Stream.unfold(m.first(t), fn
            :"$end_of_table" -> nil
            k -> {k, m.next(t, k)}
          end)
          |> Enum.to_list()
        end

        keys = Oracle.check_sorted(p, walk)
        assert {:ok, l} = keys
        assert length(l) == 300

        Oracle.check(p, fn m, t -> m.next(t, :missing) end)
        Oracle.check(p, fn m, t -> m.next(t, 1.0) end)

        Oracle.check(p, fn m, t -> m.tab2list(t) |> length() end)
        Oracle.check(p, fn m, t -> m.delete_all_objects(t) end)
        Oracle.check(p, fn m, t -> m.first(t) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.info(t, :size) end)
      end

      test "update_counter and update_element" do
        p = Oracle.new([@type_, {:keypos, @kp}])
        Oracle.check(p, fn m, t -> m.insert(t, obj(:c, 1, @kp)) end)

        for op <- [1, {@kp + 1, 1}, [], [{@kp + 1, 1}], {@kp, 1}, 1.0] do
          Oracle.check(p, fn m, t -> m.update_counter(t, :c, op) end, label: inspect(op))
          Oracle.check(p, fn m, t -> m.update_counter(t, :c, op, obj(:x, 0, @kp)) end)
        end

        for spec <- [{@kp + 1, :v}, [], [{@kp + 1, :v}], {@kp, :k}, {0, :v}] do
          Oracle.check(p, fn m, t -> m.update_element(t, :c, spec) end, label: inspect(spec))
          Oracle.check(p, fn m, t -> m.update_element(t, :nope, spec) end, label: inspect(spec))
        end

        Oracle.check_contents(p)
      end
    end
  end

  # ---------------------------------------------------------------------------
  # Bag insert order (documented head→tail; OTP 25.2.3 reorders, so literal checks)

  describe "bag list insert order (documented, OTP 25.3+)" do
    for type <- [:bag, :duplicate_bag] do
      test "#{type}" do
        t = Tsunami.new(:order, [unquote(type)])
        Tsunami.insert(t, [{:j, 1}, {:j, 2}, {:j, 3}, {:k, 1}, {:j, 1}, {:k, 2}])

        expected_j =
          if unquote(type) == :bag,
            do: [{:j, 1}, {:j, 2}, {:j, 3}],
            else: [{:j, 1}, {:j, 2}, {:j, 3}, {:j, 1}]

        assert Tsunami.lookup(t, :j) == expected_j
        assert Tsunami.lookup(t, :k) == [{:k, 1}, {:k, 2}]
        Tsunami.insert(t, [{:j, 4}, {:j, 2}])
        added = if unquote(type) == :bag, do: [{:j, 4}], else: [{:j, 4}, {:j, 2}]
        assert Tsunami.lookup(t, :j) == expected_j ++ added
        assert Tsunami.insert_new(t, [{:n, 2}, {:n, 1}])
        assert Tsunami.lookup(t, :n) == [{:n, 2}, {:n, 1}]
      end
    end
  end

  test "set: several objects of one key in a list insert, the last wins (as OTP 25)" do
    p = Oracle.new([:set])
    Oracle.check(p, fn m, t -> m.insert(t, [{:a, 1}, {:b, 1}, {:a, 2}, {:a, 3}]) end)
    Oracle.check(p, fn m, t -> m.lookup(t, :a) end)
    Oracle.check(p, fn m, t -> m.insert_new(t, [{:c, 1}, {:c, 2}]) end)
    Oracle.check(p, fn m, t -> m.lookup(t, :c) end)
  end

  # ---------------------------------------------------------------------------
  # -0.0

  test "-0.0 as a value is kept" do
    for type <- @types do
      p = Oracle.new([type])
      Oracle.check(p, fn m, t -> m.insert(t, {:k, -0.0, [-0.0], %{-0.0 => 0.0}}) end)
      Oracle.check(p, fn m, t -> m.lookup(t, :k) end)
    end
  end

  test "-0.0 and 0.0 are the same key on OTP 25" do
    for type <- @types do
      p = Oracle.new([type])
      Oracle.check(p, fn m, t -> m.insert(t, {0.0, :pos}) end)
      Oracle.check(p, fn m, t -> m.insert(t, {-0.0, :neg}) end)
      Oracle.check(p, fn m, t -> m.info(t, :size) end)
      Oracle.check(p, fn m, t -> length(m.lookup(t, -0.0)) end)
      Oracle.check(p, fn m, t -> m.member(t, -0.0) end)
      Oracle.check(p, fn m, t -> m.lookup_element(t, -0.0, 2) end)
    end
  end

  # A key containing -0.0 comes back with the sign it was inserted with, while still
  # finding 0.0 (-0.0 =:= 0.0 on OTP 25): only the external format tells the two apart.
  test "-0.0 in a key comes back as -0.0" do
    p = Oracle.new([:set])
    Oracle.check(p, fn m, t -> m.insert(t, {-0.0, :neg}) end)
    Oracle.check(p, fn m, t -> m.lookup(t, 0.0) end)
    Oracle.check(p, fn m, t -> m.insert(t, {{-0.0, 1}, :neg}) end)
    Oracle.check(p, fn m, t -> m.tab2list(t) end)
  end

  # ---------------------------------------------------------------------------
  # Unknown and deleted tables

  test "unknown tables" do
    for tab <- [:no_such_table, make_ref(), 1, "x", {:a}, self()] do
      p = Oracle.new([])
      l = inspect(tab)
      Oracle.check(p, fn m -> m.lookup(tab, 1) end, label: l)
      Oracle.check(p, fn m -> m.insert(tab, {1}) end, label: l)
      Oracle.check(p, fn m -> m.insert_new(tab, {1}) end, label: l)
      Oracle.check(p, fn m -> m.member(tab, 1) end, label: l)
      Oracle.check(p, fn m -> m.delete(tab) end, label: l)
      Oracle.check(p, fn m -> m.delete(tab, 1) end, label: l)
      Oracle.check(p, fn m -> m.take(tab, 1) end, label: l)
      Oracle.check(p, fn m -> m.lookup_element(tab, 1, 1) end, label: l)
      Oracle.check(p, fn m -> m.delete_object(tab, {1}) end, label: l)
      Oracle.check(p, fn m -> m.delete_all_objects(tab) end, label: l)
      Oracle.check(p, fn m -> m.update_counter(tab, 1, 1) end, label: l)
      Oracle.check(p, fn m -> m.update_counter(tab, 1, 1, {1, 1}) end, label: l)
      Oracle.check(p, fn m -> m.update_element(tab, 1, {2, 1}) end, label: l)
      Oracle.check(p, fn m -> m.tab2list(tab) end, label: l)
      Oracle.check(p, fn m -> m.first(tab) end, label: l)
      Oracle.check(p, fn m -> m.next(tab, 1) end, label: l)
      Oracle.check(p, fn m -> m.info(tab) end, label: l)
      Oracle.check(p, fn m -> m.info(tab, :size) end, label: l)
      Oracle.check(p, fn m -> m.info(tab, :bogus) end, label: l)
      Oracle.check(p, fn m -> m.rename(tab, :other_name_x) end, label: l)
      Oracle.check(p, fn m -> m.give_away(tab, self(), 1) end, label: l)
      Oracle.check(p, fn m -> m.setopts(tab, {:heir, :none}) end, label: l)
      Oracle.check(p, fn m -> m.whereis(tab) end, label: l)
    end
  end

  test "deleted tables (by id and by name)" do
    name = :"parity_deleted_#{System.unique_integer([:positive])}"

    for opts <- [[], [:named_table]] do
      p = Oracle.new(opts, name)
      Oracle.check(p, fn m, t -> m.insert(t, {1, 2}) end)
      Oracle.check(p, fn m, t -> m.delete(t) end)
      Oracle.check(p, fn m, t -> m.delete(t) end)
      Oracle.check(p, fn m, t -> m.lookup(t, 1) end)
      Oracle.check(p, fn m, t -> m.insert(t, {1, 2}) end)
      Oracle.check(p, fn m, t -> m.member(t, 1) end)
      Oracle.check(p, fn m, t -> m.tab2list(t) end)
      Oracle.check(p, fn m, t -> m.first(t) end)
      Oracle.check(p, fn m, t -> m.update_counter(t, 1, 1) end)
      Oracle.check(p, fn m, t -> m.info(t) end)
      Oracle.check(p, fn m, t -> m.info(t, :size) end)
      Oracle.check(p, fn m, t -> m.info(t, :bogus) end)
      Oracle.check(p, fn m -> m.whereis(name) end)
      Oracle.check(p, fn m, t -> m.rename(t, :x) end)
      Oracle.check(p, fn m, t -> m.give_away(t, self(), 1) end)
      Oracle.check(p, fn m, t -> m.setopts(t, {:heir, :none}) end)
      Oracle.check(p, fn m, t -> t in m.all() end)
    end
  end

  test "a stale id of a recreated named table is dead" do
    name = :"parity_recreated_#{System.unique_integer([:positive])}"
    e1 = :ets.new(name, [:named_table])
    t1 = Tsunami.new(name, [:named_table])
    e_tid = :ets.whereis(e1)
    t_tid = Tsunami.whereis(t1)
    :ets.delete(e1)
    Tsunami.delete(t1)
    :ets.new(name, [:named_table])
    Tsunami.new(name, [:named_table])
    p = %Oracle{ets: e_tid, tsu: t_tid}
    Oracle.check(p, fn m, t -> m.lookup(t, 1) end)
    Oracle.check(p, fn m, t -> m.info(t) end)
    Oracle.check(p, fn m, t -> m.insert(t, {1}) end)
    p2 = %Oracle{ets: name, tsu: name}
    Oracle.check(p2, fn m, t -> m.insert(t, {1}) end)
    Oracle.check(p2, fn m, t -> m.lookup(t, 1) end)
    Oracle.delete(p2)
  end

  # ---------------------------------------------------------------------------
  # new/2 options, info/1, info/2

  defp info_sans_memory(m, t) do
    info = m.info(t)

    if is_list(info) do
      mem = Keyword.fetch!(info, :memory)
      assert is_integer(mem) and mem > 0
      Keyword.delete(info, :memory)
    else
      info
    end
  end

  @info_items [
    :compressed,
    :decentralized_counters,
    :heir,
    :keypos,
    :name,
    :named_table,
    :node,
    :owner,
    :protection,
    :read_concurrency,
    :size,
    :type,
    :write_concurrency,
    :fixed,
    :safe_fixed,
    :safe_fixed_monotonic_time
  ]

  defp new_and_info(m, opts) do
    name = :parity_new_opts
    t = m.new(name, opts)

    try do
      info = info_sans_memory(m, t)
      items = for i <- @info_items, do: {i, m.info(t, i)}
      mem = m.info(t, :memory)
      assert is_integer(mem) and mem > 0
      {normalise_tab(m, info, t), normalise_tab(m, items, t)}
    after
      m.delete(t)
    end
  end

  defp normalise_tab(m, term, t) do
    t = if is_atom(t), do: m.whereis(t), else: t
    Oracle.normalise(term, t)
  end

  test "new/2 options are echoed by info/1 and info/2" do
    heir = spawn(fn -> Process.sleep(:infinity) end)
    dead = spawn(fn -> :ok end)
    Process.sleep(10)

    options = [
      [],
      [:set],
      [:bag],
      [:duplicate_bag],
      [:set, :bag],
      [:bag, :set],
      [:public],
      [:private],
      [:protected],
      [:public, :private],
      [{:keypos, 1}],
      [{:keypos, 3}],
      [{:keypos, 2}, {:keypos, 5}],
      [{:read_concurrency, true}],
      [{:read_concurrency, false}],
      [{:write_concurrency, true}],
      [{:write_concurrency, false}],
      [{:write_concurrency, :auto}],
      [{:write_concurrency, :auto}, {:decentralized_counters, false}],
      [{:decentralized_counters, false}, {:write_concurrency, :auto}],
      [{:write_concurrency, {:debug_hash_fixed_number_of_locks, 16}}],
      [{:write_concurrency, {:debug_hash_fixed_number_of_locks, 2048}}],
      [{:decentralized_counters, true}],
      [{:decentralized_counters, false}],
      [:compressed],
      [{:heir, heir, :data}],
      [{:heir, heir, :data}, {:heir, :none}],
      [{:heir, dead, :data}],
      [{:heir, self(), :data}],
      [{:heir, :none}],
      [:bag, :public, {:keypos, 2}, {:read_concurrency, true}, {:write_concurrency, true}],
      [:named_table]
    ]

    for opts <- options do
      p = %Oracle{ets: nil, tsu: nil}
      Oracle.check(p, fn m -> new_and_info(m, opts) end, label: inspect(opts))
    end
  end

  test "new/2 bad options and names" do
    name = :"parity_taken_#{System.unique_integer([:positive])}"
    :ets.new(name, [:named_table])
    Tsunami.new(name, [:named_table])
    p = %Oracle{ets: nil, tsu: nil}

    bad = [
      [:bogus],
      [{:keypos, 0}],
      [{:keypos, -1}],
      [{:keypos, :a}],
      [{:keypos, 1.0}],
      [{:keypos}],
      [:keypos],
      [:set | :improper],
      :not_a_list,
      {:set},
      [{:write_concurrency, :foo}],
      [{:write_concurrency}],
      [:write_concurrency],
      [{:write_concurrency, {:debug_hash_fixed_number_of_locks, 0}}],
      [{:write_concurrency, {:debug_hash_fixed_number_of_locks, :x}}],
      [{:write_concurrency, {:foo, 16}}],
      [{:read_concurrency, :x}],
      [:read_concurrency],
      [{:decentralized_counters, :x}],
      [:decentralized_counters],
      [{:heir, self()}],
      [{:heir, :x, 1}],
      [{:heir, :none, 1}],
      [{:heir}],
      [:heir],
      [{:compressed, true}],
      [{:named_table, true}],
      [{:protection, :public}],
      ["set"],
      [{}]
    ]

    for opts <- bad do
      Oracle.check(p, fn m -> new_and_info(m, opts) end, label: inspect(opts))
    end

    for n <- ["name", 1, {:a}, make_ref()] do
      Oracle.check(p, fn m -> new_and_info_named(m, n, []) end, label: inspect(n))
    end

    Oracle.check(p, fn m -> new_and_info_named(m, name, [:named_table]) end)
    # a taken name is fine without named_table
    Oracle.check(p, fn m -> new_and_info_named(m, name, []) end)
  end

  defp new_and_info_named(m, name, opts) do
    t = m.new(name, opts)
    r = m.info(t, :name)
    m.delete(t)
    r
  end

  test "info/2 with bad items" do
    p = Oracle.new([])

    for item <- [:bogus, "size", 1, {:size}, :memory_x, :id_x] do
      Oracle.check(p, fn m, t -> m.info(t, item) end, label: inspect(item))
    end

    Oracle.check(p, fn m, t -> m.info(t, :id) == t end)
    Oracle.check(p, fn m, t -> m.info(t, :binary) end)
    Oracle.check(p, fn m, t -> is_tuple(m.info(t, :stats)) end)
  end

  test "info/1 after inserts" do
    p = Oracle.new([:bag, {:keypos, 2}])

    for i <- 1..100,
        do: Oracle.check(p, fn m, t -> m.insert(t, {:x, rem(i, 7), i}) end)

    Oracle.check(p, fn m, t -> info_sans_memory(m, t) end)
    Oracle.check(p, fn m, t -> m.info(t, :size) end)
  end

  # ---------------------------------------------------------------------------
  # update_counter

  test "update_counter: increments, thresholds, lists, defaults, errors" do
    p = Oracle.new([:set])
    Oracle.check(p, fn m, t -> m.insert(t, {:c, 0, 10, :atom, 1.5, 2 ** 63 - 1, -(2 ** 64)}) end)

    ops = [
      1,
      -1,
      0,
      2 ** 64,
      -(2 ** 65),
      {2, 1},
      {3, -5},
      {2, 5, 10, 0},
      {2, 5, 10, 0},
      {2, 100, 10, 7},
      {3, -100, -10, 42},
      {3, -1, 100, 1},
      {2, 0, 0, -1},
      {2, 1, 0, -1},
      {6, 1},
      {6, 1},
      {7, -1},
      {6, 2 ** 70, 2 ** 71, 2 ** 80},
      [],
      [{2, 1}, {2, 1}, {3, 2}],
      [{2, 1}, {3, 1, 0, 0}],
      [{2, 1}, {4, 1}],
      [{2, 1}, {1, 1}],
      [{2, 1} | {3, 1}],
      [{2, 1}, :bad],
      {1, 1},
      {4, 1},
      {5, 1},
      {8, 1},
      {0, 1},
      {-1, 1},
      {2, 1.0},
      1.0,
      {2.0, 1},
      {2, 1, 10},
      {2, 1, 10, 0, 0},
      {2, 1, 10.0, 0},
      {2, 1, 10, 0.0},
      {2, 1, 10, :x},
      {2},
      {},
      :atom,
      [1],
      [{2, 1.0}]
    ]

    for op <- ops do
      Oracle.check(p, fn m, t -> m.update_counter(t, :c, op) end, label: inspect(op))
      Oracle.check(p, fn m, t -> m.lookup(t, :c) end, label: inspect(op))
    end

    Oracle.check(p, fn m, t -> m.update_counter(t, :missing, 1) end)
    Oracle.check(p, fn m, t -> m.update_counter(t, :missing, [{2, 1}]) end)
  end

  test "update_counter/4 default objects" do
    for kp <- [1, 2] do
      p = Oracle.new([:set, {:keypos, kp}])

      defaults = [
        {:d, 0},
        {:d, 10, 20},
        {:ignored_key, 5, 6},
        {:d},
        # `{}` is left out: `:ets.update_counter(T, Missing, 1, {})` crashes the OTP
        # 25.2.3 VM ("size_object: bad tag"); Tsunami is checked alone below.
        {:d, :x},
        {:d, 1.0},
        :not_tuple,
        [{:d, 0}],
        {:d, 2 ** 64, 0}
      ]

      for {d, i} <- Enum.with_index(defaults),
          op <- [1, {2, 3}, {3, 1}, [{2, 1}, {3, 1}], {1, 1}] do
        label = inspect({kp, d, op})
        Oracle.check(p, fn m, t -> m.update_counter(t, {:k, i}, op, d) end, label: label)
        Oracle.check(p, fn m, t -> m.lookup(t, {:k, i}) end, label: label)
        # the key exists now (or not): the default is not used
        Oracle.check(p, fn m, t -> m.update_counter(t, {:k, i}, op, d) end, label: label)
      end

      Oracle.check_contents(p)
    end
  end

  test "update_counter/4 with an empty default object is badarg (Tsunami alone)" do
    t = Tsunami.new(:uc_empty_default, [])
    assert_raise ArgumentError, fn -> Tsunami.update_counter(t, :missing, 1, {}) end
    assert Tsunami.tab2list(t) == []
    Tsunami.insert(t, {:k, 1})
    assert Tsunami.update_counter(t, :k, 1, {}) == 2
  end

  test "update_counter and update_element on bags are badarg" do
    for type <- [:bag, :duplicate_bag] do
      p = Oracle.new([type])
      Oracle.check(p, fn m, t -> m.insert(t, {:c, 1}) end)
      Oracle.check(p, fn m, t -> m.update_counter(t, :c, 1) end)
      Oracle.check(p, fn m, t -> m.update_counter(t, :nope, 1) end)
      Oracle.check(p, fn m, t -> m.update_counter(t, :nope, 1, {:x, 1}) end)
      Oracle.check(p, fn m, t -> m.update_element(t, :c, {2, 2}) end)
      Oracle.check(p, fn m, t -> m.update_element(t, :nope, {2, 2}) end)
      Oracle.check_contents(p)
    end
  end

  test "update_counter: big counters do not overflow" do
    p = Oracle.new([])
    Oracle.check(p, fn m, t -> m.insert(t, {:c, 0x7FFFFFFFFFFFFFFF, 2 ** 59 - 1, -(2 ** 59)}) end)

    for op <- [1, {3, 1}, {4, -1}, {3, -1}, {4, 1}, {2, -(2 ** 65)}, {2, 2 ** 128}] do
      Oracle.check(p, fn m, t -> m.update_counter(t, :c, op) end, label: inspect(op))
    end

    Oracle.check_contents(p)
  end

  # ---------------------------------------------------------------------------
  # update_element

  test "update_element: positions, lists, errors" do
    for kp <- [1, 2] do
      p = Oracle.new([:set, {:keypos, kp}])
      Oracle.check(p, fn m, t -> m.insert(t, {:k, :k, 3, 4}) end)

      specs = [
        {3, :x},
        {4, {}},
        [{3, :a}, {3, :b}, {4, :c}],
        [],
        {kp, :new_key},
        [{3, 1}, {kp, :new_key}],
        {0, 1},
        {5, 1},
        {-1, 1},
        {:a, 1},
        {3.0, 1},
        {3},
        {3, 1, 2},
        :bad,
        [{3, 1} | :improper],
        [{3, 1}, {5, 1}],
        [{3, 1}, :bad],
        {3, :binary.copy("z", 100_000)},
        {3, fn -> :closure end}
      ]

      for s <- specs do
        Oracle.check(p, fn m, t -> m.update_element(t, :k, s) end, label: inspect(s))
        Oracle.check(p, fn m, t -> m.lookup(t, :k) end, label: inspect(s))
        Oracle.check(p, fn m, t -> m.update_element(t, :missing, s) end, label: inspect(s))
      end
    end
  end

  # ---------------------------------------------------------------------------
  # lookup_element / next errors

  test "lookup_element: missing key, bad positions" do
    p = Oracle.new([{:keypos, 2}])
    Oracle.check(p, fn m, t -> m.insert(t, {:a, :k, :c}) end)

    for pos <- [0, 1, 2, 3, 4, -1, :x, 2.0, 2 ** 64] do
      Oracle.check(p, fn m, t -> m.lookup_element(t, :k, pos) end, label: inspect(pos))
      Oracle.check(p, fn m, t -> m.lookup_element(t, :missing, pos) end, label: inspect(pos))
    end
  end

  # ---------------------------------------------------------------------------
  # whereis, all, rename, give_away, setopts

  test "whereis and all" do
    name = :"parity_where_#{System.unique_integer([:positive])}"
    p = Oracle.new([:named_table], name)
    Oracle.check(p, fn m, t -> m.whereis(t) == m.info(t, :id) end)
    Oracle.check(p, fn m -> m.whereis(:parity_nowhere) end)
    Oracle.check(p, fn m -> m.whereis("str") end)
    Oracle.check(p, fn m -> m.whereis(1) end)
    Oracle.check(p, fn m, t -> t in m.all() end)
    Oracle.check(p, fn m, t -> m.info(t, :id) in m.all() end)
    q = Oracle.new([])
    Oracle.check(q, fn m, t -> t in m.all() end)
    Oracle.check(q, fn m, t -> m.delete(t) end)
    Oracle.check(q, fn m, t -> t in m.all() end)
    Oracle.delete(p)
    Oracle.check(p, fn m, t -> t in m.all() end)
  end

  test "rename" do
    n1 = :"parity_ren1_#{System.unique_integer([:positive])}"
    n2 = :"parity_ren2_#{System.unique_integer([:positive])}"
    n3 = :"parity_ren3_#{System.unique_integer([:positive])}"
    p = Oracle.new([:named_table], n1)
    _other = Oracle.new([:named_table], n3)
    Oracle.check(p, fn m, t -> m.insert(t, {1}) end)
    Oracle.check(p, fn m -> m.rename(n1, n2) end)
    Oracle.check(p, fn m -> m.lookup(n2, 1) end)
    Oracle.check(p, fn m -> m.lookup(n1, 1) end)
    Oracle.check(p, fn m -> m.info(n2, :name) end)
    Oracle.check(p, fn m -> m.rename(n2, n3) end)
    Oracle.check(p, fn m -> m.rename(n2, "str") end)
    Oracle.check(p, fn m -> m.rename(n2, n2) end)
    Oracle.check(p, fn m -> m.whereis(n1) end)

    u = Oracle.new([])
    Oracle.check(u, fn m, t -> m.rename(t, n1) end)
    Oracle.check(u, fn m, t -> m.info(t, :name) end)
    Oracle.check(u, fn m, t -> m.info(t, :named_table) end)
    Oracle.check(u, fn m -> m.whereis(n1) end)
    Oracle.check(u, fn m, t -> m.rename(t, n3) end)
    Oracle.check(u, fn m, t -> m.lookup(t, 1) end)
  end

  test "give_away and setopts errors" do
    p = Oracle.new([])
    dead = spawn(fn -> :ok end)
    Process.sleep(10)
    Oracle.check(p, fn m, t -> m.give_away(t, self(), :x) end)
    Oracle.check(p, fn m, t -> m.give_away(t, dead, :x) end)
    Oracle.check(p, fn m, t -> m.give_away(t, :not_pid, :x) end)
    Oracle.check(p, fn m, t -> m.give_away(t, :c.pid(0, 9999, 0), :x) end)

    for opt <- [
          {:heir, self(), :d},
          {:heir, :none},
          [{:heir, :none}, {:protection, :public}],
          {:protection, :private},
          {:protection, :protected},
          {:protection, :bogus},
          {:heir, self()},
          {:heir, dead, :d},
          {:keypos, 2},
          {:write_concurrency, true},
          :bogus,
          [],
          [{:heir, :none} | :x]
        ] do
      Oracle.check(p, fn m, t -> m.setopts(t, opt) end, label: inspect(opt))
      Oracle.check(p, fn m, t -> info_sans_memory(m, t) end, label: inspect(opt))
    end
  end

  for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
    test "#{type}: next/prev from :\"$end_of_table\" raise, as :ets" do
      p = Oracle.new([unquote(type), :public])
      Oracle.check(p, fn m, t -> m.insert(t, [{1}, {:a}, {:zz}]) end)
      Oracle.check_raise(p, fn m, t -> m.next(t, :"$end_of_table") end)
      Oracle.check_raise(p, fn m, t -> m.prev(t, :"$end_of_table") end)
      # Other absent keys have neighbours in an ordered_set only.
      if unquote(type) == :ordered_set,
        do: Oracle.check(p, fn m, t -> {m.next(t, :b), m.prev(t, :b)} end),
        else: Oracle.check_raise(p, fn m, t -> m.next(t, :b) end)

      Oracle.delete(p)
    end
  end
end
