defmodule Tsunami.SelectTest do
  @moduledoc """
  Parity with the real `:ets` (see `Tsunami.Oracle`) for the match/select family, folds,
  fixation and slots, on all four table types with keypos 1 and 2: a generated corpus of
  match specs (valid and invalid), chunked variants and their continuations.

  Hash-table results are compared as multisets (sorted); `ordered_set` results exactly.
  """
  use ExUnit.Case, async: true
  alias Tsunami.TestSupport
  alias Tsunami.Oracle

  @types [:set, :bag, :duplicate_bag, :ordered_set]
  @eot :"$end_of_table"

  # ---------------------------------------------------------------------------
  # Data

  defp pool do
    [
      0,
      1,
      2,
      3,
      5,
      -4,
      1.0,
      2.5,
      -0.5,
      :a,
      :b,
      {1, 2},
      {:a, 1},
      [1, 2],
      [3],
      [],
      %{a: 1},
      %{a: 2, b: 3},
      %{b: 1},
      "x",
      <<1, 2>>,
      2 ** 70,
      {}
    ]
  end

  defp pick(list), do: Enum.at(list, :rand.uniform(length(list)) - 1)

  defp keys, do: [0, 1, 2, 3, 1.0, 2.5, :a, :b, {1, 2}, [1, 2], %{a: 1}, "k", -7, 2 ** 70]

  # `n` objects of arity 2..4 with the key at `keypos`.
  defp objects(n, keypos) do
    for _ <- 1..n do
      size = Enum.random(max(2, keypos)..4)

      Enum.map(1..size, fn i -> if i == keypos, do: pick(keys()), else: pick(pool()) end)
      |> List.to_tuple()
    end
  end

  defp pair(type, keypos, objs) do
    o = Oracle.new([type, :public, {:keypos, keypos}])
    Oracle.check(o, fn mod, tab -> Enum.each(objs, &mod.insert(tab, &1)) end)
    o
  end

  defp sorted?(type), do: type != :ordered_set

  defp check(o, type, fun, label),
    do: Oracle.check(o, fun, sort: sorted?(type), label: label)

  # ---------------------------------------------------------------------------
  # Match spec generator

  defp var(n), do: :"$#{n}"

  # A head pattern; returns {pattern, bound_vars}.
  defp gen_pattern(depth) do
    r = :rand.uniform(10)

    cond do
      r <= 3 ->
        n = :rand.uniform(3)
        {var(n), [n]}

      r <= 5 ->
        {:_, []}

      r <= 7 or depth > 1 ->
        {pick(pool()), []}

      r == 8 ->
        {a, va} = gen_pattern(depth + 1)
        {b, vb} = gen_pattern(depth + 1)
        {{a, b}, va ++ vb}

      r == 9 ->
        {a, va} = gen_pattern(depth + 1)
        {b, vb} = if :rand.uniform(2) == 1, do: {:_, []}, else: gen_pattern(depth + 1)
        {[a | b], va ++ vb}

      true ->
        {a, va} = gen_pattern(depth + 1)
        {%{a: a}, va}
    end
  end

  defp gen_head do
    case :rand.uniform(12) do
      1 ->
        {:_, []}

      2 ->
        {:"$1", [1]}

      _ ->
        size = Enum.random(1..4)
        {elems, vars} = Enum.map(1..size, fn _ -> gen_pattern(0) end) |> Enum.unzip()
        {List.to_tuple(elems), Enum.uniq(List.flatten(vars))}
    end
  end

  defp gen_guard(vars, depth \\ 0) do
    v = if vars == [], do: {:const, 1}, else: var(pick(vars))

    case :rand.uniform(if depth > 1, do: 10, else: 13) do
      1 ->
        {pick([:is_integer, :is_atom, :is_tuple, :is_list, :is_map, :is_float]), v}

      2 ->
        {pick([:is_number, :is_binary, :is_function, :is_pid, :is_reference]), v}

      3 ->
        {pick([:>, :<, :"=<", :>=, :==, :"/=", :"=:=", :"=/="]), v, pick([0, 1, 2, 1.0, :a])}

      4 ->
        {:==, {pick([:+, :-, :*, :div, :rem, :/]), v, pick([0, 1, 2])}, pick([0, 1, 2, 1.0])}

      5 ->
        {:==, {:element, pick([1, 2]), v}, pick([1, :a, 2])}

      6 ->
        {:==, {pick([:hd, :tl, :length, :size, :tuple_size, :map_size]), v}, pick([1, 2, [2]])}

      7 ->
        {pick([:==, :>]), {:map_get, :a, v}, 1}

      8 ->
        {:is_map_key, pick([:a, :b]), v}

      9 ->
        {pick([:==, :>, :<]), {pick([:abs, :float, :trunc, :round, :-, :bnot]), v}, 1}

      10 ->
        {:>, {pick([:band, :bor, :bxor, :bsl, :bsr]), v, pick([1, 2])}, pick([0, 1, 4])}

      11 ->
        {pick([:andalso, :orelse, :and, :or, :xor]), gen_guard(vars, depth + 1),
         gen_guard(vars, depth + 1)}

      12 ->
        {:not, gen_guard(vars, depth + 1)}

      13 ->
        {:"=:=", v, {:const, {1, 2}}}
    end
  end

  defp gen_body(vars) do
    v = if vars == [], do: :"$_", else: var(pick(vars))

    one =
      pick([
        :"$_",
        :"$$",
        v,
        {{v, :x}},
        {:const, {:a, :"$1"}},
        [v, :"$_"],
        true,
        false,
        {:>, v, 2},
        {:+, v, 1},
        {:is_integer, v},
        :"$_"
      ])

    if :rand.uniform(6) == 1, do: [pick([1, :"$$", v]), one], else: [one]
  end

  defp gen_clause do
    {head, vars} = gen_head()
    guards = for _ <- 1..Enum.random(0..2)//1, do: gen_guard(vars)
    {head, guards, gen_body(vars)}
  end

  defp gen_valid_spec do
    spec = for _ <- 1..Enum.random(1..3), do: gen_clause()
    {:ok, spec}
  end

  # Specs that :ets rejects (the match-spec compiler raises badarg).
  defp invalid_specs do
    [
      :not_a_list,
      [:x],
      [{:_, [], []} | :improper],
      [{:_, [], [:"$_"], :extra}],
      [{:_, :not_list, [:"$_"]}],
      [{:_, [], :not_list}],
      [{{:"$1"}, [{:>, :"$2", 1}], [:"$_"]}],
      [{{:"$1"}, [], [:"$3"]}],
      [{{:"$1"}, [{:no_such_fun, :"$1"}], [:"$_"]}],
      [{{:"$1"}, [{:is_integer, :"$1", :"$1"}], [:"$_"]}],
      [{{:"$1"}, [], [{:unknown_bif, :"$1"}]}],
      [{{:"$1"}, [:"$1"], [{:>, :"$1", 1, 2}]}],
      [{{:"$1"}, [], [:"$_"]}, {:bad}],
      {{:"$1"}, [], [:"$_"]},
      [{{:"$1"}, [{:"$1"}], [:"$_"]}]
    ]
  end

  # A select_replace spec that keeps the key of every object: for each arity, a head
  # `{$1, ..., $n}`, generated guards, and a body tuple with `$keypos` in place and each
  # other element a variable, a constant or an element/2 of `$_`.
  defp gen_replace_spec(keypos) do
    for n <- max(2, keypos)..4, :rand.uniform(4) > 1 do
      vars = Enum.to_list(1..n)
      head = List.to_tuple(Enum.map(vars, &var/1))
      guards = if :rand.uniform(2) == 1, do: [gen_guard(vars)], else: []

      body =
        for i <- vars do
          cond do
            i == keypos -> var(i)
            :rand.uniform(3) == 1 -> {:const, pick(pool())}
            :rand.uniform(2) == 1 -> var(pick(vars))
            true -> {:element, i, :"$_"}
          end
        end

      {head, guards, [{List.to_tuple(body)}]}
    end
  end

  defp gen_spec do
    if :rand.uniform(10) == 1 do
      pick(invalid_specs())
    else
      {:ok, spec} = gen_valid_spec()
      spec
    end
  end

  # ---------------------------------------------------------------------------
  # Chunk collection

  # Follows the continuations of a /3 call; returns {all_items, chunk_sizes, last} where
  # `last` says whether the final chunk carried `'$end_of_table'`.
  defp collect(mod, first, next_fun) do
    collect(mod, first, next_fun, [], [])
  end

  defp collect(_mod, @eot, _next, acc, sizes),
    do: {Enum.concat(Enum.reverse(acc)), Enum.reverse(sizes)}

  defp collect(mod, {items, cont}, next, acc, sizes) when is_list(items) do
    true = items != []
    collect(mod, next.(cont), next, [items | acc], [length(items) | sizes])
  end

  defp chunked(o, type, fun, label) do
    {e, t} = Oracle.outcomes(o, fun)

    norm = fn
      {:ok, {items, sizes}} ->
        {:ok, {if(sorted?(type), do: Oracle.sort(items), else: items), sizes}}

      other ->
        other
    end

    e = norm.(e)
    t = norm.(t)

    assert Oracle.same?(e, t), """
    :ets and Tsunami differ (#{label})
      ets:     #{inspect(e, limit: 30)}
      tsunami: #{inspect(t, limit: 30)}
    """

    e
  end

  # ---------------------------------------------------------------------------
  # Generated corpus

  for type <- @types, keypos <- [1, 2] do
    @tag timeout: 120_000
    test "generated specs: select/select_count/select_reverse/chunks on #{type} keypos #{keypos}" do
      type = unquote(type)
      keypos = unquote(keypos)
      :rand.seed(:exsss, {17, keypos, :erlang.phash2(type)})
      objs = objects(40, keypos)
      o = pair(type, keypos, objs)

      for i <- 1..120 do
        spec = gen_spec()
        label = "##{i} #{inspect(spec)}"
        outcome = check(o, type, fn mod, tab -> mod.select(tab, spec) end, "select " <> label)
        check(o, type, fn mod, tab -> mod.select_count(tab, spec) end, "count " <> label)

        check(o, type, fn mod, tab -> mod.select_reverse(tab, spec) end, "reverse " <> label)

        limit = Enum.random([1, 2, 3, 7, 100])

        c =
          chunked(
            o,
            type,
            fn mod, tab -> collect(mod, mod.select(tab, spec, limit), &mod.select/1) end,
            "select/3 limit #{limit} " <> label
          )

        # All chunks concatenated = select/2.
        with {:ok, all} <- outcome do
          assert {:ok, {sort_if(type, all), elem(elem(c, 1), 1)}} == c
        end

        chunked(
          o,
          type,
          fn mod, tab ->
            collect(mod, mod.select_reverse(tab, spec, limit), &mod.select_reverse/1)
          end,
          "select_reverse/3 limit #{limit} " <> label
        )
      end

      Oracle.delete(o)
    end

    test "generated specs: select_delete / select_replace on #{type} keypos #{keypos}" do
      type = unquote(type)
      keypos = unquote(keypos)
      :rand.seed(:exsss, {23, keypos, :erlang.phash2(type)})

      for i <- 1..40 do
        objs = objects(25, keypos)
        spec = gen_spec()
        label = "##{i} #{inspect(spec)}"
        o = pair(type, keypos, objs)
        check(o, type, fn mod, tab -> mod.select_delete(tab, spec) end, "delete " <> label)
        Oracle.check_contents(o, "after select_delete " <> label)

        {pattern, _} = gen_head()
        check(o, type, fn mod, tab -> mod.match_delete(tab, pattern) end, "md")
        Oracle.check_contents(o, "after match_delete " <> label)

        # select_replace on what is left: one clause per arity, the key kept and the
        # other elements rebuilt from the object's variables and constants.
        rspec = gen_replace_spec(keypos)
        rlabel = "replace ##{i} #{inspect(rspec)}"
        check(o, type, fn mod, tab -> mod.select_replace(tab, rspec) end, rlabel)
        Oracle.check_contents(o, "after " <> rlabel)
        Oracle.delete(o)
      end
    end
  end

  # ---------------------------------------------------------------------------
  # match / match_object / match_delete

  for type <- @types, keypos <- [1, 2] do
    test "match family on #{type} keypos #{keypos}" do
      type = unquote(type)
      keypos = unquote(keypos)
      :rand.seed(:exsss, {31, keypos, :erlang.phash2(type)})
      o = pair(type, keypos, objects(40, keypos))

      patterns =
        (for(_ <- 1..60, do: elem(gen_head(), 0)) ++
           [{:"$1", :"$1"}, {:"$1", :_, :"$1"}, {:_, :_}, :_, :"$1", {:"$1", :"$2", :"$3"}])
        |> Enum.uniq()

      for p <- patterns, limit <- [1, 3] do
        label = inspect(p)
        m = check(o, type, fn mod, tab -> mod.match(tab, p) end, "match " <> label)
        mo = check(o, type, fn mod, tab -> mod.match_object(tab, p) end, "match_object " <> label)

        mc =
          chunked(
            o,
            type,
            fn mod, tab -> collect(mod, mod.match(tab, p, limit), &mod.match/1) end,
            "match/3 " <> label
          )

        moc =
          chunked(
            o,
            type,
            fn mod, tab -> collect(mod, mod.match_object(tab, p, limit), &mod.match_object/1) end,
            "match_object/3 " <> label
          )

        with {:ok, l} <- m, do: assert({:ok, {sort_if(type, l), elem(elem(mc, 1), 1)}} == mc)
        with {:ok, l} <- mo, do: assert({:ok, {sort_if(type, l), elem(elem(moc, 1), 1)}} == moc)
      end

      Oracle.delete(o)
    end
  end

  defp sort_if(type, l), do: if(sorted?(type), do: Oracle.sort(l), else: l)

  # ---------------------------------------------------------------------------
  # Hand-written specs

  defp sample_pair(type, keypos \\ 1) do
    objs =
      for i <- 1..20 do
        if keypos == 1, do: {i, rem(i, 4), Integer.to_string(i)}, else: {rem(i, 4), i, :x}
      end

    pair(type, keypos, objs ++ [{:a, :a, :b}, {1.0, 2.0, 3}])
  end

  for type <- @types do
    test "fun2ms-style specs on #{type}" do
      type = unquote(type)
      o = sample_pair(type)

      specs = [
        # fun({K, V, _}) when V > 2 -> K end
        [{{:"$1", :"$2", :_}, [{:>, :"$2", 2}], [:"$1"]}],
        # fun({K, V, S}) when is_integer(K), K rem 2 == 0 -> {K, S} end
        [
          {{:"$1", :_, :"$3"}, [{:is_integer, :"$1"}, {:==, {:rem, :"$1", 2}, 0}],
           [{{:"$1", :"$3"}}]}
        ],
        # fun(X = {K, _, _}) when K >= 5 andalso K < 9 -> X end
        [{{:"$1", :_, :_}, [{:andalso, {:>=, :"$1", 5}, {:<, :"$1", 9}}], [:"$_"]}],
        # fun({K, _, _}) when K == 1 -> true end (count-style)
        [{{:"$1", :_, :_}, [{:==, :"$1", 1}], [true]}],
        # fun({K, V, _}) -> [K | V] end
        [{{:"$1", :"$2", :_}, [], [[:"$1" | :"$2"]]}],
        # fun({K, V, S}) -> {const, ...}
        [{{:"$1", :_, :_}, [], [{:const, {:lit, :"$1"}}]}],
        # guard exceptions: 10 div V with V = 0 means no match
        [{{:"$1", :"$2", :_}, [{:>, {:div, 10, :"$2"}, 3}], [:"$1"]}],
        [{{:"$1", :"$2", :_}, [{:>, {:/, 1, :"$2"}, 0.3}], [:"$_"]}],
        # body that raises
        [{{:"$1", :"$2", :_}, [], [{:div, 10, :"$2"}]}],
        [{{:"$1", :"$2", :_}, [], [{:element, 5, :"$_"}]}],
        # bound keys (lookup path), including 1 and 1.0 and unordered clauses
        [{{5, :_, :_}, [], [:"$_"]}, {{2, :_, :_}, [], [:"$_"]}],
        [{{1, :_, :_}, [], [:"$_"]}, {{1.0, :_, :_}, [], [:"$_"]}],
        [{{1.0, :_, :_}, [], [:"$_"]}],
        [{{3, :_, :_}, [], [:"$_"]}, {{3, :_, :_}, [], [:"$$"]}],
        [{{:a, :"$1", :_}, [], [:"$1"]}, {{1, :"$1", :_}, [], [:"$1"]}],
        [{{:"$1", :"$1", :_}, [], [:"$_"]}],
        [],
        [{:_, [], [:"$_"]}],
        [{:"$1", [{:==, {:tuple_size, :"$1"}, 3}], [{:element, 3, :"$1"}]}],
        [{{:_, :_, :"$1"}, [{:is_binary, :"$1"}, {:==, {:byte_size, :"$1"}, 2}], [:"$1"]}],
        [{{:"$1", :_, :_}, [{:orelse, {:is_atom, :"$1"}, {:is_float, :"$1"}}], [:"$_"]}],
        [{{:"$1", :_, :_}, [{:not, {:is_integer, :"$1"}}], [:"$_"]}],
        [{{:"$1", :_, :_}, [{:==, {:self}, {:self}}], [{:self}]}],
        # a non-tuple head is valid and matches nothing
        [{1, [], [:"$_"]}]
      ]

      for spec <- specs, limit <- [1, 4] do
        label = inspect(spec)
        check(o, type, fn mod, tab -> mod.select(tab, spec) end, "select " <> label)
        check(o, type, fn mod, tab -> mod.select_reverse(tab, spec) end, "reverse " <> label)
        check(o, type, fn mod, tab -> mod.select_count(tab, spec) end, "count " <> label)

        chunked(
          o,
          type,
          fn mod, tab -> collect(mod, mod.select(tab, spec, limit), &mod.select/1) end,
          "s3 " <> label
        )

        chunked(
          o,
          type,
          fn mod, tab ->
            collect(mod, mod.select_reverse(tab, spec, limit), &mod.select_reverse/1)
          end,
          "sr3 " <> label
        )
      end

      for spec <- specs do
        o2 = sample_pair(type)

        check(
          o2,
          type,
          fn mod, tab -> mod.select_delete(tab, spec) end,
          "delete " <> inspect(spec)
        )

        Oracle.check_contents(o2)
        Oracle.delete(o2)
      end
    end

    test "invalid specs raise on #{type}" do
      type = unquote(type)
      o = sample_pair(type)

      for spec <- invalid_specs() do
        for f <- [
              & &1.select(&2, spec),
              & &1.select(&2, spec, 3),
              & &1.select_reverse(&2, spec),
              & &1.select_reverse(&2, spec, 3),
              & &1.select_count(&2, spec),
              & &1.select_delete(&2, spec),
              & &1.select_replace(&2, spec)
            ] do
          Oracle.check_raise(o, f, label: inspect(spec) <> " " <> inspect(f))
        end
      end

      Oracle.check_contents(o)
      Oracle.delete(o)
    end

    test "limit 0 / non-integer limit / bad continuation on #{type}" do
      type = unquote(type)
      o = sample_pair(type)
      spec = [{:_, [], [:"$_"]}]

      for limit <- [0, -1, 1.0, :a, nil] do
        Oracle.check_raise(o, & &1.select(&2, spec, limit))
        Oracle.check_raise(o, & &1.select_reverse(&2, spec, limit))
        Oracle.check_raise(o, & &1.match(&2, :_, limit))
        Oracle.check_raise(o, & &1.match_object(&2, :_, limit))
      end

      for bad <- [:foo, {:foo}, [], 1] do
        Oracle.check_raise(o, fn mod -> mod.select(bad) end)
        Oracle.check_raise(o, fn mod -> mod.match(bad) end)
        Oracle.check_raise(o, fn mod -> mod.match_object(bad) end)
        Oracle.check_raise(o, fn mod -> mod.select_reverse(bad) end)
      end

      Oracle.check(o, fn mod -> mod.select(@eot) end)
      Oracle.check(o, fn mod -> mod.match(@eot) end)
      Oracle.check(o, fn mod -> mod.match_object(@eot) end)
      Oracle.check(o, fn mod -> mod.select_reverse(@eot) end)
      Oracle.delete(o)
    end

    test "empty table and no match give $end_of_table on #{type}" do
      type = unquote(type)
      o = Oracle.new([type])
      spec = [{:_, [], [:"$_"]}]
      assert {:ok, @eot} = Oracle.check(o, & &1.select(&2, spec, 3))
      assert {:ok, @eot} = Oracle.check(o, & &1.select_reverse(&2, spec, 3))
      assert {:ok, @eot} = Oracle.check(o, & &1.match(&2, :_, 3))
      assert {:ok, @eot} = Oracle.check(o, & &1.match_object(&2, :_, 3))
      assert {:ok, []} = Oracle.check(o, & &1.select(&2, spec))
      assert {:ok, 0} = Oracle.check(o, & &1.select_count(&2, spec))
      assert {:ok, 0} = Oracle.check(o, & &1.select_delete(&2, spec))

      if type == :bag,
        do: Oracle.check_raise(o, & &1.select_replace(&2, spec)),
        else: assert({:ok, 0} = Oracle.check(o, & &1.select_replace(&2, spec)))

      Oracle.check(o, & &1.insert(&2, [{1, :a}, {2, :b}]))
      none = [{{:_, :zzz}, [], [:"$_"]}]
      assert {:ok, @eot} = Oracle.check(o, & &1.select(&2, none, 3))
      assert {:ok, @eot} = Oracle.check(o, & &1.select_reverse(&2, none, 1))
      assert {:ok, @eot} = Oracle.check(o, & &1.match(&2, {:_, :zzz}, 1))
      Oracle.delete(o)
    end

    test "unknown / deleted table on #{type}" do
      type = unquote(type)
      o = Oracle.new([type])
      Oracle.delete(o)
      spec = [{:_, [], [:"$_"]}]

      for f <- [
            & &1.select(&2, spec),
            & &1.select(&2, spec, 1),
            & &1.select_reverse(&2, spec),
            & &1.select_reverse(&2, spec, 1),
            & &1.select_count(&2, spec),
            & &1.select_delete(&2, spec),
            & &1.select_replace(&2, spec),
            & &1.match(&2, :_),
            & &1.match(&2, :_, 1),
            & &1.match_object(&2, :_),
            & &1.match_object(&2, :_, 1),
            & &1.match_delete(&2, :_),
            & &1.slot(&2, 0),
            & &1.safe_fixtable(&2, true),
            & &1.foldl(fn x, acc -> [x | acc] end, [], &2),
            & &1.foldr(fn x, acc -> [x | acc] end, [], &2)
          ] do
        Oracle.check_raise(o, f)
      end

      # Unknown name.
      for mod <- [:ets, Tsunami] do
        assert_raise ArgumentError, fn -> mod.foldl(fn _, a -> a end, 0, :no_such_tab_xyz) end
        assert_raise ArgumentError, fn -> mod.foldr(fn _, a -> a end, 0, :no_such_tab_xyz) end
        assert_raise ArgumentError, fn -> mod.select(:no_such_tab_xyz, []) end
      end
    end
  end

  # ---------------------------------------------------------------------------
  # select_replace

  for type <- @types, keypos <- [1, 2] do
    test "select_replace on #{type} keypos #{keypos}" do
      type = unquote(type)
      keypos = unquote(keypos)
      k = var(keypos)
      other = var(3 - keypos)

      obj = fn key, v -> if keypos == 1, do: {key, v, :z}, else: {v, key, :z} end
      objs = for i <- 1..12, do: obj.(rem(i, 6), i)
      objs = objs ++ [obj.(1.0, 99), obj.(2, 3), obj.(2, 3)]

      head = if keypos == 1, do: {k, other, :"$3"}, else: {other, k, :"$3"}

      keep_key =
        if keypos == 1, do: {{k, {:+, other, 100}, :new}}, else: {{{:+, other, 100}, k, :new}}

      specs = [
        # keeps the key: replaced
        [{head, [{:is_integer, other}, {:>, other, 4}], [keep_key]}],
        [{head, [], [:"$_"]}],
        # changes the key: badarg, nothing replaced
        [
          {head, [{:==, k, 3}],
           [if(keypos == 1, do: {{:changed, other, :"$3"}}, else: {{other, :changed, :"$3"}})]}
        ],
        # 1 -> 1.0 (same key in ordered_set only)
        [
          {head, [{:"=:=", k, 1}],
           [if(keypos == 1, do: {{1.0, other, :x}}, else: {{other, 1.0, :x}})]}
        ],
        # not a tuple / too short
        [{head, [{:==, k, 4}], [:not_a_tuple]}],
        [{head, [{:==, k, 4}], [{{:"$3"}}]}],
        # longer tuple, same key
        [{head, [{:==, k, 5}], [if(keypos == 1, do: {{k, 1, 2, 3, 4}}, else: {{1, k, 2, 3}})]}],
        # body raises
        [{head, [], [{:div, 1, 0}]}],
        # guard raises
        [{head, [{:>, {:div, 1, 0}, 0}], [:"$_"]}],
        # several clauses
        [
          {head, [{:==, k, 0}], [:"$_"]},
          {head, [{:==, k, 2}], [keep_key]}
        ]
      ]

      for spec <- specs do
        o = pair(type, keypos, objs)
        check(o, type, fn mod, tab -> mod.select_replace(tab, spec) end, inspect(spec))
        Oracle.check_contents(o, "after " <> inspect(spec))
        Oracle.delete(o)
      end
    end
  end

  # ---------------------------------------------------------------------------
  # Continuations

  for type <- @types do
    test "continuations: other process, deleted table, rename, repair on #{type}" do
      type = unquote(type)
      spec = [{{:"$1", :_}, [], [:"$1"]}]
      objs = for i <- 1..30, do: {i, i}

      for mod <- [:ets, Tsunami] do
        t = mod.new(:"cont_#{type}_#{mod}", [type, :public])
        mod.insert(t, objs)
        {first, cont} = mod.select(t, spec, 7)
        assert length(first) == 7

        # From another process.
        {rest, sizes} = Oracle.in_process(fn -> collect(mod, mod.select(cont), &mod.select/1) end)

        assert Enum.sort(first ++ rest) == Enum.to_list(1..30)
        assert Enum.all?(sizes, &(&1 <= 7))

        # Through term_to_binary + repair_continuation.
        bin = :erlang.term_to_binary(cont)
        repaired = mod.repair_continuation(:erlang.binary_to_term(bin), spec)
        {rest2, _} = collect(mod, mod.select(repaired), &mod.select/1)
        assert Enum.sort(first ++ rest2) == Enum.to_list(1..30)
        assert mod.repair_continuation(@eot, spec) == @eot

        # match/3 continuation repaired with the pattern's spec
        {m1, mcont} = mod.match(t, {:"$1", :_}, 5)

        mrep =
          mod.repair_continuation(:erlang.binary_to_term(:erlang.term_to_binary(mcont)), [
            {{:"$1", :_}, [], [:"$$"]}
          ])

        {mrest, _} = collect(mod, mod.match(mrep), &mod.match/1)
        assert Enum.sort(m1 ++ mrest) == Enum.map(1..30, &[&1])

        # After the table is deleted.
        mod.delete(t)
        assert_raise ArgumentError, fn -> mod.select(cont) end
        assert_raise ArgumentError, fn -> mod.match(mcont) end
      end
    end

    test "continuation survives rename but not delete+recreate on #{type}" do
      type = unquote(type)
      spec = [{:"$1", [], [:"$1"]}]

      for mod <- [:ets, Tsunami] do
        name = :"ren_#{type}_#{mod}"
        new_name = :"ren2_#{type}_#{mod}"
        ^name = mod.new(name, [type, :named_table, :public])
        mod.insert(name, for(i <- 1..10, do: {i}))
        {a, cont} = mod.select(name, spec, 3)
        ^new_name = mod.rename(name, new_name)

        # :ets's ordered_set continuation holds the table *name*, so it fails after a
        # rename; Tsunami's (and :ets's hash-table ones) keep working.
        if mod == :ets and type == :ordered_set do
          assert_raise ArgumentError, fn -> mod.select(cont) end
        else
          {rest, _} = collect(mod, mod.select(cont), &mod.select/1)
          assert Enum.sort(a ++ rest) == for(i <- 1..10, do: {i})
        end

        {_, cont} = mod.select(new_name, spec, 3)
        mod.delete(new_name)
        mod.new(new_name, [type, :named_table, :public])
        mod.insert(new_name, for(i <- 1..10, do: {i}))

        # Difference: :ets's ordered_set continuation goes on over the *new* table of
        # that name; Tsunami's (like :ets's hash-table ones) raise.
        unless mod == :ets and type == :ordered_set,
          do: assert_raise(ArgumentError, fn -> mod.select(cont) end)

        mod.delete(new_name)
      end
    end

    test "chunk sizes 1..N concatenate to select/2 on #{type}" do
      type = unquote(type)
      o = pair(type, 1, for(i <- 1..25, do: {rem(i * 7, 13), i}))
      spec = [{{:"$1", :"$2"}, [{:>, :"$2", 3}], [:"$_"]}]
      {:ok, all} = check(o, type, & &1.select(&2, spec), "all")

      for limit <- 1..(length(all) + 2) do
        {:ok, {items, sizes}} =
          chunked(
            o,
            type,
            fn mod, tab -> collect(mod, mod.select(tab, spec, limit), &mod.select/1) end,
            "limit #{limit}"
          )

        assert items == sort_if(type, all)
        assert Enum.all?(Enum.drop(sizes, -1), &(&1 == limit))

        chunked(
          o,
          type,
          fn mod, tab ->
            collect(mod, mod.select_reverse(tab, spec, limit), &mod.select_reverse/1)
          end,
          "rev limit #{limit}"
        )
      end

      Oracle.delete(o)
    end
  end

  test "select_reverse on ordered_set is reverse term order; last objects first" do
    o = pair(:ordered_set, 1, for(i <- 1..10, do: {i}) ++ [{:a}, {1.5}, {"s"}])
    spec = [{:_, [], [:"$_"]}]
    {:ok, fwd} = Oracle.check(o, & &1.select(&2, spec))
    {:ok, rev} = Oracle.check(o, & &1.select_reverse(&2, spec))
    assert rev == Enum.reverse(fwd)

    {:ok, {first, _}} =
      chunked(
        o,
        :ordered_set,
        &collect(&1, &1.select_reverse(&2, spec, 3), fn c -> &1.select_reverse(c) end),
        "rev3"
      )

    assert first == Enum.reverse(fwd)
    {[{"s"}, {:a}, {10}], _} = Tsunami.select_reverse(o.tsu, spec, 3)
    Oracle.delete(o)
  end

  # ---------------------------------------------------------------------------
  # match-spec engine functions

  test "match_spec_compile / run / is_compiled_ms / test_ms" do
    :rand.seed(:exsss, {5, 5, 5})
    list = objects(30, 1)

    for _ <- 1..100 do
      spec = gen_spec()

      e =
        try do
          c = :ets.match_spec_compile(spec)
          {:ok, :ets.is_compiled_ms(c), :ets.match_spec_run(list, c)}
        catch
          k, r -> {k, r}
        end

      t =
        try do
          c = Tsunami.match_spec_compile(spec)
          {:ok, Tsunami.is_compiled_ms(c), Tsunami.match_spec_run(list, c)}
        catch
          k, r -> {k, r}
        end

      assert e == t

      for obj <- Enum.take(list, 3) do
        assert :ets.test_ms(obj, spec) == Tsunami.test_ms(obj, spec)
      end
    end

    refute Tsunami.is_compiled_ms(:foo)
    refute Tsunami.is_compiled_ms(make_ref())
    assert_raise ArgumentError, fn -> Tsunami.match_spec_run([{1}], :not_compiled) end
    assert_raise ArgumentError, fn -> Tsunami.match_spec_compile([{:_, [], :bad}]) end
  end

  # ---------------------------------------------------------------------------
  # foldl / foldr

  for type <- @types, keypos <- [1, 2] do
    test "foldl/foldr on #{type} keypos #{keypos}" do
      type = unquote(type)
      keypos = unquote(keypos)
      :rand.seed(:exsss, {41, keypos, :erlang.phash2(type)})
      o = pair(type, keypos, objects(60, keypos))
      cons = fn x, acc -> [x | acc] end
      check(o, type, & &1.foldl(cons, [], &2), "foldl")
      check(o, type, & &1.foldr(cons, [], &2), "foldr")
      check(o, type, & &1.foldl(fn _, n -> n + 1 end, 0, &2), "foldl count")

      {:ok, l} = Oracle.check(o, & &1.foldl(cons, [], &2), sort: sorted?(type))
      {:ok, r} = Oracle.check(o, & &1.foldr(cons, [], &2), sort: sorted?(type))

      if type == :ordered_set do
        # foldl conses in term order, so the result is reversed; foldr the other way.
        assert Enum.reverse(l) == r
      end

      # A raising fun propagates the exception on both.
      Oracle.check_raise(o, & &1.foldl(fn _, _ -> raise "boom" end, 0, &2))
      Oracle.delete(o)

      e = Oracle.new([type])
      assert {:ok, :acc} = Oracle.check(e, & &1.foldl(cons, :acc, &2))
      assert {:ok, :acc} = Oracle.check(e, & &1.foldr(cons, :acc, &2))
      Oracle.delete(e)
    end
  end

  # ---------------------------------------------------------------------------
  # safe_fixtable / info fixed

  for type <- @types do
    test "safe_fixtable counts and info on #{type}" do
      type = unquote(type)

      for mod <- [:ets, Tsunami] do
        t = mod.new(:fix, [type, :public])
        assert mod.info(t, :fixed) == false
        assert mod.info(t, :safe_fixed) == false
        assert mod.info(t, :safe_fixed_monotonic_time) == false
        # Releasing an unfixed table is a no-op.
        assert mod.safe_fixtable(t, false) == true
        assert mod.info(t, :fixed) == false

        assert mod.safe_fixtable(t, true)
        assert mod.safe_fixtable(t, true)
        assert mod.info(t, :fixed) == true
        me = self()
        assert {{mega, sec, micro}, [{^me, 2}]} = mod.info(t, :safe_fixed)
        assert is_integer(mega) and is_integer(sec) and sec < 1_000_000 and micro < 1_000_000
        now = :os.system_time(:microsecond)
        fixed_at = (mega * 1_000_000 + sec) * 1_000_000 + micro
        assert abs(now - fixed_at) < 5_000_000

        assert {mono, [{^me, 2}]} = mod.info(t, :safe_fixed_monotonic_time)
        assert is_integer(mono)
        assert abs(System.monotonic_time() - mono) < System.convert_time_unit(5, :second, :native)

        # Another process fixes too; released when it exits.
        parent = self()

        pid =
          spawn(fn ->
            mod.safe_fixtable(t, true)
            send(parent, :fixed)

            receive do
              :go -> :ok
            end
          end)

        assert_receive :fixed
        {_, pids} = mod.info(t, :safe_fixed)
        assert Enum.sort(pids) == Enum.sort([{me, 2}, {pid, 1}])
        ref = Process.monitor(pid)
        send(pid, :go)
        assert_receive {:DOWN, ^ref, _, _, _}
        assert TestSupport.wait_until(fn -> match?({_, [_]}, mod.info(t, :safe_fixed)) end)
        assert {_, [{^me, 2}]} = mod.info(t, :safe_fixed)

        assert mod.safe_fixtable(t, false)
        assert mod.info(t, :fixed) == true
        assert mod.safe_fixtable(t, false)
        assert mod.info(t, :fixed) == false
        assert mod.info(t, :safe_fixed) == false

        # A process that exits while fixing releases its fixation.
        Oracle.in_process(fn -> mod.safe_fixtable(t, true) end)
        assert TestSupport.wait_until(fn -> mod.info(t, :fixed) == false end)

        for bad <- [:maybe, 1, nil, "true"] do
          assert_raise ArgumentError, fn -> mod.safe_fixtable(t, bad) end
        end

        mod.delete(t)
      end

      # Same error outcomes through the oracle.
      o = Oracle.new([type])

      for bad <- [:maybe, 1, nil] do
        Oracle.check_raise(o, & &1.safe_fixtable(&2, bad))
      end

      Oracle.check(o, & &1.safe_fixtable(&2, true))
      Oracle.check(o, & &1.info(&2, :fixed))
      Oracle.check(o, & &1.safe_fixtable(&2, false))
      Oracle.check(o, & &1.info(&2, :fixed))
      Oracle.delete(o)
    end

    test "safe_fixtable on private table by another process on #{type}" do
      type = unquote(type)
      o = Oracle.new([type, :private])

      Oracle.check(o, fn mod, tab ->
        Oracle.in_process(fn ->
          try do
            mod.safe_fixtable(tab, true)
          rescue
            e in ArgumentError -> {:badarg, e.message}
          end
        end)
      end)

      Oracle.check(o, fn mod, tab ->
        Oracle.in_process(fn ->
          try do
            mod.select(tab, [{:_, [], [:"$_"]}])
          rescue
            _ in ArgumentError -> :badarg
          end
        end)
      end)

      Oracle.delete(o)
    end
  end

  # ---------------------------------------------------------------------------
  # slot/2

  test "slot/2 on ordered_set is parity with :ets" do
    o = pair(:ordered_set, 1, for(i <- 1..20, do: {i * 3, i}) ++ [{:a, 1}, {1.5, 2}])

    for i <- 0..24 do
      Oracle.check(o, & &1.slot(&2, i), label: "slot #{i}")
    end

    for bad <- [-1, :a, 1.0] do
      Oracle.check_raise(o, & &1.slot(&2, bad))
    end

    Oracle.delete(o)
    e = Oracle.new([:ordered_set])
    assert {:ok, @eot} = Oracle.check(e, & &1.slot(&2, 0))
    Oracle.check_raise(e, & &1.slot(&2, 1))
    Oracle.delete(e)
  end

  for type <- [:set, :bag, :duplicate_bag] do
    test "slot/2 on #{type} covers every object exactly once" do
      type = unquote(type)

      for n <- [0, 1, 10, 300] do
        objs = for i <- 1..n//1, j <- 1..2, do: {i, j}
        objs = if type == :set, do: Enum.uniq_by(objs, &elem(&1, 0)), else: objs
        objs = if type == :duplicate_bag, do: objs ++ Enum.take(objs, 3), else: objs

        for mod <- [:ets, Tsunami] do
          t = mod.new(:slots, [type])
          Enum.each(objs, &mod.insert(t, &1))
          {slots, last} = walk_slots(mod, t, 0, [])
          assert Enum.sort(Enum.concat(slots)) == Enum.sort(objs)
          assert mod.slot(t, last) == @eot
          assert_raise ArgumentError, fn -> mod.slot(t, last + 1) end
          assert_raise ArgumentError, fn -> mod.slot(t, -1) end
          assert_raise ArgumentError, fn -> mod.slot(t, :x) end
          mod.delete(t)
        end
      end
    end
  end

  defp walk_slots(mod, t, i, acc) do
    case mod.slot(t, i) do
      @eot -> {Enum.reverse(acc), i}
      objs when is_list(objs) -> walk_slots(mod, t, i + 1, [objs | acc])
    end
  end

  test "select_replace accepts exactly the key-keeping specs :ets accepts" do
    terms = [:a, ~c"hej", 123, 1.23, Bitwise.bsl(123, 123), "123", self(), :"$1", %{a: 1}]

    keys =
      for x <- terms, y <- Enum.take(terms, 4) do
        [
          {:"$1", :"$1"},
          {:"$1", :"$2"},
          {{x, y}, {{x, y}}},
          {{x, y}, {x, y}},
          {{:"$1", y}, {{:"$1", y}}},
          {{{x, y}}, {{{{x, y}}}}},
          {{x}, {{{x}}}},
          {x, {:const, x}},
          {x, x},
          {{x, y}, {:const, {x, y}}},
          {{x, y}, {{x, {:const, y}}}},
          {[x, y | :"$1"], [x, y | :"$1"]},
          {[x, y | :"$1"], [x, y]},
          {[{x, :"$1"}, y], [{{x, :"$1"}}, y]},
          {{[{x, y}]}, {{[{{x, y}}]}}},
          {{[{x, y}]}, {{{:const, [{x, y}]}}}},
          {:_, :_},
          {:"$_", :"$_"}
        ]
      end
      |> List.flatten()

    e = :ets.new(:sr_keys, [:set])
    t = Tsunami.new(:sr_keys, [:set])

    for {head_key, body_key} <- keys do
      spec = [{{head_key, :"$2", :"$3"}, [], [{{body_key, :"$3", :"$2"}}]}]
      expected = outcome(fn -> :ets.select_replace(e, spec) end)
      assert outcome(fn -> Tsunami.select_replace(t, spec) end) == expected, inspect(spec)
    end

    # A whole constant object, with the same or another key.
    for key <- [{1, :tuple}, :a, %{a: 1}, {:nested, %{a: 1}}, :"$1"],
        new <- [{key, 3, 4}, {key}, {:other, 1, 2}] do
      :ets.insert(e, {key, 1, 2})
      Tsunami.insert(t, {key, 1, 2})
      spec = [{{key, 1, 2}, [], [{:const, new}]}]
      expected = outcome(fn -> :ets.select_replace(e, spec) end)
      assert outcome(fn -> Tsunami.select_replace(t, spec) end) == expected, inspect(spec)
      assert Enum.sort(Tsunami.tab2list(t)) == Enum.sort(:ets.tab2list(e))
    end
  end

  defp outcome(fun) do
    {:ok, fun.()}
  rescue
    e -> {:raised, e.__struct__}
  end
end
