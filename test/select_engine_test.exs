defmodule Tsunami.SelectEngineTest do
  @moduledoc """
  The Rust match-spec engine against the real `:ets`: a second generated corpus aimed at
  what the engine does itself (composite keys with bound prefixes on `ordered_set`, list
  and map patterns, every guard function, raising guards and bodies, bignum fallbacks,
  atoms compared by name), on all four table types, with `/3` chunk sizes 1..N; and the
  fast paths, shown by how many objects the engine visits.
  """
  use ExUnit.Case, async: false
  alias Tsunami.Oracle

  @types [:set, :bag, :duplicate_bag, :ordered_set]
  @eot :"$end_of_table"

  defp pick(list), do: Enum.at(list, :rand.uniform(length(list)) - 1)
  defp var(n), do: :"$#{n}"

  defp value do
    pick([
      0,
      1,
      -3,
      7,
      1.0,
      -0.5,
      :a,
      :b,
      :zz,
      [1, 2],
      [:a | :b],
      [],
      {1, :a},
      %{a: 1, b: [2]},
      %{1 => :x},
      "bin",
      <<1, 2, 3>>,
      2 ** 64,
      -(2 ** 70),
      {}
    ])
  end

  # Composite keys: {tag, n} and {tag, n, m} tuples, plus a few plain keys.
  defp key do
    case :rand.uniform(6) do
      1 -> pick([1, 2.0, :k, "s", [1]])
      2 -> {pick([:user, :group]), :rand.uniform(4), :rand.uniform(3)}
      _ -> {pick([:user, :group, :admin]), pick([1, 2, 3, 2.0, :x])}
    end
  end

  defp objects(n), do: for(_ <- 1..n, do: List.to_tuple([key() | for(_ <- 1..2, do: value())]))

  defp gen_pattern(depth) do
    case :rand.uniform(if depth > 1, do: 6, else: 10) do
      1 ->
        {var(:rand.uniform(3)), [1, 2, 3]}

      2 ->
        {:_, []}

      3 ->
        {value(), []}

      4 ->
        {var(1), []}

      5 ->
        {var(2), []}

      6 ->
        {:_, []}

      7 ->
        with({a, _} <- gen_pattern(depth + 1), {b, _} <- gen_pattern(depth + 1), do: {{a, b}, []})

      8 ->
        {[gen_pattern(depth + 1) |> elem(0) | pick([:_, var(3), [], [2]])], []}

      9 ->
        {%{a: elem(gen_pattern(depth + 1), 0)}, []}

      _ ->
        {pick([:user, :group, 1]), []}
    end
  end

  defp key_pattern do
    case :rand.uniform(7) do
      1 -> {pick([:user, :group]), :_}
      2 -> {pick([:user, :group]), var(1)}
      3 -> {:user, pick([1, 2, 2.0]), :_}
      4 -> {pick([:user, :admin]), :_, :_}
      5 -> var(1)
      6 -> :_
      _ -> elem(gen_pattern(0), 0)
    end
  end

  defp gen_head do
    case :rand.uniform(10) do
      1 -> :_
      2 -> :"$1"
      _ -> {key_pattern(), elem(gen_pattern(0), 0), elem(gen_pattern(0), 0)}
    end
  end

  defp vars_of(t) when is_atom(t) do
    case Atom.to_string(t) do
      "$" <> n -> if match?({_, ""}, Integer.parse(n)), do: [t], else: []
      _ -> []
    end
  end

  defp vars_of(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.flat_map(&vars_of/1)
  defp vars_of([h | t]), do: vars_of(h) ++ vars_of(t)
  defp vars_of(m) when is_map(m), do: m |> Map.values() |> Enum.flat_map(&vars_of/1)
  defp vars_of(_), do: []

  defp operand(vars) do
    case :rand.uniform(4) do
      1 -> value() |> then(&{:const, &1})
      2 -> :"$_"
      _ -> if vars == [], do: :"$_", else: pick(vars)
    end
  end

  defp gen_expr(vars, depth \\ 0) do
    v = operand(vars)

    case :rand.uniform(if depth > 1, do: 12, else: 16) do
      1 ->
        {pick([:is_integer, :is_atom, :is_tuple, :is_list, :is_map, :is_float, :is_binary]), v}

      2 ->
        {pick([:>, :<, :"=<", :>=, :==, :"/=", :"=:=", :"=/="]), v, operand(vars)}

      3 ->
        {pick([:+, :-, :*, :div, :rem, :/, :band, :bor, :bxor, :bsl, :bsr]), v,
         pick([0, 1, 3, 2.5, 70])}

      4 ->
        {pick([:abs, :float, :trunc, :round, :-, :+, :bnot]), v}

      5 ->
        {pick([:hd, :tl, :length, :size, :tuple_size, :map_size, :byte_size, :bit_size]), v}

      6 ->
        {:element, pick([1, 2, 3]), v}

      7 ->
        {pick([:map_get, :is_map_key]), pick([:a, :b, 1]), v}

      8 ->
        {:is_record, v, pick([:user, :group]), pick([2, 3])}

      9 ->
        {:binary_part, v, pick([0, 1]), pick([1, -1, 2])}

      10 ->
        {:node, v}

      11 ->
        {:==, {:self}, v}

      12 ->
        {:>, v, pick([:a, :b, :user, 2, {1, :a}])}

      13 ->
        {pick([:andalso, :orelse]), gen_expr(vars, depth + 1), gen_expr(vars, depth + 1)}

      14 ->
        {pick([:and, :or, :xor]), gen_expr(vars, depth + 1), gen_expr(vars, depth + 1)}

      15 ->
        {:not, gen_expr(vars, depth + 1)}

      _ ->
        {:==, {:+, v, 1}, pick([2, 2.0, 3])}
    end
  end

  defp gen_body(vars) do
    v = if vars == [], do: :"$_", else: pick(vars)

    one =
      case :rand.uniform(9) do
        1 -> :"$_"
        2 -> :"$$"
        3 -> v
        4 -> {{v, {:const, :c}, :"$_"}}
        5 -> [v, {:+, v, 1} | v]
        6 -> %{k: v}
        7 -> true
        _ -> gen_expr(vars)
      end

    if :rand.uniform(5) == 1, do: [gen_expr(vars), one], else: [one]
  end

  defp gen_clause do
    head = gen_head()
    vars = Enum.uniq(vars_of(head))
    guards = for _ <- 1..Enum.random(0..2)//1, do: gen_expr(vars)
    {head, guards, gen_body(vars)}
  end

  defp gen_spec, do: for(_ <- 1..Enum.random(1..3), do: gen_clause())

  defp sorted?(type), do: type != :ordered_set

  defp check(o, type, fun, label), do: Oracle.check(o, fun, sort: sorted?(type), label: label)

  defp collect(mod, first, next), do: collect(mod, first, next, [], [])

  defp collect(_mod, @eot, _next, acc, sizes),
    do: {Enum.concat(Enum.reverse(acc)), Enum.reverse(sizes)}

  defp collect(mod, {items, cont}, next, acc, sizes) when items != [],
    do: collect(mod, next.(cont), next, [items | acc], [length(items) | sizes])

  defp chunked(o, type, fun, label) do
    {e, t} = Oracle.outcomes(o, fun)

    norm = fn
      {:ok, {items, sizes}} ->
        {:ok, {if(sorted?(type), do: Oracle.sort(items), else: items), sizes}}

      other ->
        other
    end

    assert Oracle.same?(norm.(e), norm.(t)), """
    :ets and Tsunami differ (#{label})
      ets:     #{inspect(norm.(e), limit: 30)}
      tsunami: #{inspect(norm.(t), limit: 30)}
    """
  end

  defp pair(type, objs) do
    o = Oracle.new([type, :public])
    Oracle.check(o, fn mod, tab -> Enum.each(objs, &mod.insert(tab, &1)) end)
    o
  end

  for type <- @types do
    @tag timeout: 180_000
    test "engine corpus: select/count/reverse/chunks on #{type}" do
      type = unquote(type)
      :rand.seed(:exsss, {61, 7, :erlang.phash2(type)})
      o = pair(type, objects(60))

      for i <- 1..150 do
        spec = gen_spec()
        label = "##{i} #{inspect(spec)}"
        check(o, type, & &1.select(&2, spec), "select " <> label)
        check(o, type, & &1.select_count(&2, spec), "count " <> label)
        check(o, type, & &1.select_reverse(&2, spec), "reverse " <> label)
        limit = Enum.random(1..12)

        chunked(
          o,
          type,
          &collect(&1, &1.select(&2, spec, limit), fn c -> &1.select(c) end),
          "select/3 #{limit} " <> label
        )

        chunked(
          o,
          type,
          &collect(&1, &1.select_reverse(&2, spec, limit), fn c -> &1.select_reverse(c) end),
          "select_reverse/3 #{limit} " <> label
        )

        {pattern, _, _} = gen_clause()
        check(o, type, & &1.match_object(&2, pattern), "match_object " <> inspect(pattern))
        check(o, type, & &1.match(&2, pattern), "match " <> inspect(pattern))
      end

      Oracle.delete(o)
    end

    @tag timeout: 180_000
    test "engine corpus: select_delete / select_replace on #{type}" do
      type = unquote(type)
      :rand.seed(:exsss, {67, 3, :erlang.phash2(type)})

      for i <- 1..60 do
        spec = gen_spec()
        label = "##{i} #{inspect(spec)}"
        o = pair(type, objects(30))
        check(o, type, & &1.select_delete(&2, spec), "delete " <> label)
        Oracle.check_contents(o, "after select_delete " <> label)

        # Replace: keep the key, change the rest, per clause of the generated heads.
        replace =
          for {head, guards, _} <- spec, is_tuple(head) and tuple_size(head) == 3 do
            {head, guards, [{{{:element, 1, :"$_"}, {:const, :replaced}, {:element, 2, :"$_"}}}]}
          end

        check(o, type, & &1.select_replace(&2, replace), "replace " <> inspect(replace))
        Oracle.check_contents(o, "after select_replace " <> label)
        Oracle.delete(o)
      end
    end
  end

  test "guards that raise fail their clause; bodies that raise give :EXIT" do
    for type <- @types do
      o = pair(type, for(i <- -3..3, do: {i, i * 2, :v}))

      specs = [
        [
          {{:"$1", :_, :_}, [{:>, {:div, 6, :"$1"}, 1}], [:"$1"]},
          {{:"$1", :_, :_}, [], [:other]}
        ],
        [{{:"$1", :_, :_}, [], [{:div, 6, :"$1"}]}],
        [{{:"$1", :_, :_}, [{:==, {:element, 4, :"$_"}, 1}], [:"$_"]}, {:_, [], [:fallthrough]}],
        [{{:"$1", :"$2", :_}, [{:>, {:bsl, :"$2", 100}, 0}], [{:bsl, :"$1", 100}]}],
        [{{:"$1", :_, :_}, [{:is_integer, {:*, :"$1", 12_345_678_901_234_567_890}}], [true]}]
      ]

      for spec <- specs do
        check(o, type, & &1.select(&2, spec), inspect(spec))
        check(o, type, & &1.select_count(&2, spec), inspect(spec))
      end

      Oracle.delete(o)
    end
  end

  test "atoms compare by name in hash tables and ordered sets" do
    atoms = [:zeta, :alpha, :mid, :b, :aa, :Émile, :z]

    for type <- @types do
      o = pair(type, for(a <- atoms, b <- [:alpha, :zz], do: {a, b}))

      for spec <- [
            [{{:"$1", :"$2"}, [{:<, :"$1", :mid}], [:"$1"]}],
            [{{:"$1", :"$2"}, [{:>, :"$1", :"$2"}], [:"$_"]}],
            [{{:"$1", :_}, [{:>=, {{:"$1"}}, {{:b}}}], [:"$1"]}],
            [{{:"$1", :_}, [{:<, [:"$1"], [:b, 1]}], [:"$1"]}]
          ] do
        check(o, type, & &1.select(&2, spec), inspect(spec))
      end

      Oracle.delete(o)
    end
  end

  test "chunk sizes 1..N over a range walk concatenate to select/2" do
    objs = for i <- 1..40, tag <- [:a, :b, :c], do: {{tag, i}, i}
    o = pair(:ordered_set, objs)
    spec = [{{{:b, :"$1"}, :_}, [{:<, :"$1", 30}], [:"$1"]}]
    {:ok, all} = Oracle.check(o, & &1.select(&2, spec))
    assert all == Enum.to_list(1..29)

    for limit <- 1..31 do
      chunked(
        o,
        :ordered_set,
        &collect(&1, &1.select(&2, spec, limit), fn c -> &1.select(c) end),
        "limit #{limit}"
      )

      chunked(
        o,
        :ordered_set,
        &collect(&1, &1.select_reverse(&2, spec, limit), fn c -> &1.select_reverse(c) end),
        "rev limit #{limit}"
      )
    end

    Oracle.delete(o)
  end

  describe "fast paths" do
    setup do
      t = Tsunami.new(:fast, [:ordered_set, :public])
      Tsunami.insert(t, for(i <- 1..100_000, do: {{rem(i, 1000), i}, i}))
      %{t: t}
    end

    defp visited(fun) do
      before = Tsunami.Native.select_visited()
      result = fun.()
      {result, Tsunami.Native.select_visited() - before}
    end

    test "a bound key prefix on an ordered_set walks only its range", %{t: t} do
      prefix = [{{{7, :_}, :"$1"}, [], [:"$1"]}]
      full = [{{{:"$1", :_}, :"$2"}, [{:==, :"$1", 7}], [:"$2"]}]
      {r1, range_visits} = visited(fn -> Tsunami.select(t, prefix) end)
      {r2, scan_visits} = visited(fn -> Tsunami.select(t, full) end)
      assert r1 == r2 and length(r1) == 100
      assert range_visits == 100
      assert scan_visits == 100_000

      assert {100, n} = visited(fn -> Tsunami.select_count(t, [{{{7, :_}, :_}, [], [true]}]) end)
      assert n == 100

      {{items, cont}, n} = visited(fn -> Tsunami.select(t, prefix, 30) end)
      assert length(items) == 30 and n == 100
      assert {{rest, _}, 0} = visited(fn -> Tsunami.select(cont) end)
      assert length(rest) == 30
    end

    test "a fully bound key is looked up", %{t: t} do
      {result, n} = visited(fn -> Tsunami.select(t, [{{{7, 1007}, :"$1"}, [], [:"$1"]}]) end)
      assert result == [1007] and n == 1

      assert {1, 1} = visited(fn -> Tsunami.select_delete(t, [{{{7, 1007}, :_}, [], [true]}]) end)

      assert Tsunami.lookup(t, {7, 1007}) == []
    end
  end
end
