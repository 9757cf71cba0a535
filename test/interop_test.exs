defmodule Tsunami.InteropTest do
  # to_dets/from_dets, init_table, table/1,2 (QLC) and i/0..3, each against :ets.
  use ExUnit.Case, async: true
  alias Tsunami.TestSupport
  import ExUnit.CaptureIO

  @moduletag :tmp_dir
  @types [:set, :ordered_set, :bag, :duplicate_bag]

  defp sorted(list), do: Enum.sort(list)

  defp pair(type, opts \\ []) do
    {:ets.new(:interop, [type, :public | opts]), Tsunami.new(:interop, [type, :public | opts])}
  end

  defp fill({e, t}, objs) do
    :ets.insert(e, objs)
    Tsunami.insert(t, objs)
  end

  defp open_dets(dir, name, type) do
    {:ok, d} =
      :dets.open_file(name, file: String.to_charlist(Path.join(dir, "#{name}")), type: type)

    d
  end

  defp dets_type(:ordered_set), do: :set
  defp dets_type(type), do: type

  describe "dets" do
    for type <- @types do
      test "to_dets and from_dets on #{type}", %{tmp_dir: dir} do
        type = unquote(type)
        {e, t} = pair = pair(type)
        # Unique keys per list insert (which same-key object wins is undefined).
        fill(pair, for(i <- 1..3000, do: {i, i}))
        fill(pair, for(i <- 1..1200, do: {i, -i}))
        de = open_dets(dir, :"de_#{type}", dets_type(type))
        dt = open_dets(dir, :"dt_#{type}", dets_type(type))
        # Existing dets contents are replaced.
        :ok = :dets.insert(de, {:old, 1})
        :ok = :dets.insert(dt, {:old, 1})

        assert :ets.to_dets(e, de) == de
        assert Tsunami.to_dets(t, dt) == dt
        assert sorted(:dets.match_object(dt, :_)) == sorted(:dets.match_object(de, :_))
        assert length(:dets.match_object(dt, :_)) > 1000

        # from_dets keeps the table's own objects.
        {e2, t2} = pair2 = pair(type)
        fill(pair2, [{:mine, 0}])
        assert :ets.from_dets(e2, de) == true
        assert Tsunami.from_dets(t2, dt) == true
        assert sorted(Tsunami.tab2list(t2)) == sorted(:ets.tab2list(e2))
        assert {:mine, 0} in Tsunami.tab2list(t2)
        :dets.close(de)
        :dets.close(dt)
      end
    end

    # A big insert leaves a dets table with too few slots; it catches up (re-hashes) in
    # steps started by a timer some 200 ms after its last unfix. A walk of it by select/1
    # that leaves it unfixed sees objects move meanwhile, and returns some twice and
    # misses others. dets:to_ets/2 fixes the table (:ets.from_dets/2), so must from_dets.
    test "from_dets while the dets table re-hashes", %{tmp_dir: dir} do
      n = 20_000

      for mod <- [:ets, Tsunami] do
        d = open_dets(dir, :"regrow_#{inspect(mod)}", :set)
        :ok = :dets.insert(d, for(i <- 1..n, do: {i, i}))
        {_, slots, _} = :dets.info(d, :no_slots)
        :ok = :dets.safe_fixtable(d, true)
        :ok = :dets.safe_fixtable(d, false)
        # The catch-up has begun once the table has more slots (a dets that grew at
        # once would not get there: the walk then checks nothing more, and fails nothing).
        TestSupport.wait_until(fn -> elem(:dets.info(d, :no_slots), 1) > slots end, 3000, 1)
        tab = mod.new(:regrow, [:set, :public])
        assert mod.from_dets(tab, d) == true
        assert mod.info(tab, :size) == n, "#{inspect(mod)}"
        assert sorted(mod.tab2list(tab)) == for(i <- 1..n, do: {i, i})
        :dets.close(d)
      end
    end

    test "errors", %{tmp_dir: dir} do
      {e, t} = pair(:set)
      d = open_dets(dir, :errs, :set)

      for {fun, args} <- [
            to_dets: [:no_table, d],
            to_dets: [:tab, :no_dets],
            from_dets: [:no_table, d],
            from_dets: [:tab, :no_dets]
          ] do
        args_e = Enum.map(args, &if(&1 == :tab, do: e, else: &1))
        args_t = Enum.map(args, &if(&1 == :tab, do: t, else: &1))
        assert {:error, :badarg} = catch_kind(fn -> apply(:ets, fun, args_e) end)
        assert {:error, :badarg} = catch_kind(fn -> apply(Tsunami, fun, args_t) end)
      end

      # A private table of another process cannot be read into dets.
      me = self()

      spawn(fn ->
        send(me, {:tabs, :ets.new(:p, [:private]), Tsunami.new(:p, [:private])})
        Process.sleep(:infinity)
      end)

      assert_receive {:tabs, pe, pt}
      assert {:error, :badarg} = catch_kind(fn -> :ets.to_dets(pe, d) end)
      assert {:error, :badarg} = catch_kind(fn -> Tsunami.to_dets(pt, d) end)
      :dets.close(d)
    end
  end

  defp catch_kind(fun) do
    fun.()
  catch
    kind, reason -> {kind, reason}
  end

  describe "init_table" do
    defp reader(chunks) do
      fn
        :read ->
          case chunks do
            [] -> :end_of_input
            [c | rest] -> {c, reader(rest)}
          end

        :close ->
          send(self(), :closed)
      end
    end

    for type <- @types do
      test "fills an emptied #{type} table", %{} do
        {e, t} = pair = pair(unquote(type))
        fill(pair, [{:old, 1}])
        chunks = [[{1, :a}, {2, :b}], [], [{1, :c}, {3, :d}, {3, :d}]]
        assert :ets.init_table(e, reader(chunks)) == true
        assert Tsunami.init_table(t, reader(chunks)) == true
        assert sorted(Tsunami.tab2list(t)) == sorted(:ets.tab2list(e))
      end
    end

    test "a bad object exits after the objects before it, and closes the reader" do
      {e, t} = pair(:set)
      chunks = [[{1}], [{2}, :bad, {3}]]
      assert {:exit, {:badarg, _}} = catch_kind(fn -> :ets.init_table(e, reader(chunks)) end)
      assert_received :closed
      assert {:exit, {:badarg, _}} = catch_kind(fn -> Tsunami.init_table(t, reader(chunks)) end)
      assert_received :closed
      assert sorted(Tsunami.tab2list(t)) == sorted(:ets.tab2list(e))
      assert sorted(Tsunami.tab2list(t)) == [{1}, {2}]
    end

    test "a reader answering something else exits with it" do
      {e, t} = pair(:set)
      assert catch_kind(fn -> :ets.init_table(e, fn :read -> :oops end) end) == {:exit, :oops}
      assert catch_kind(fn -> Tsunami.init_table(t, fn :read -> :oops end) end) == {:exit, :oops}
    end

    test "bad tables" do
      for tab <- [:no_such, 42] do
        assert {:error, :badarg} = catch_kind(fn -> :ets.init_table(tab, reader([])) end)
        assert {:error, :badarg} = catch_kind(fn -> Tsunami.init_table(tab, reader([])) end)
      end
    end
  end

  describe "QLC" do
    @queries [
      ~c"[X || X <- T].",
      ~c"[V || {K, V} <- T, K > 10, K < 20].",
      ~c"[K || {K, _} <- T, K =:= 5].",
      ~c"[K || {K, _} <- T, K == 5.0].",
      ~c"[{K, V} || {K, V} <- T, (K =:= 3) or (K =:= 7)].",
      ~c"[V || {_, V} <- T, is_atom(V)]."
    ]

    for type <- @types,
        opts <- [
          [],
          [traverse: :first_next],
          [traverse: :last_prev],
          [traverse: :select],
          [n_objects: 7],
          [traverse: {:select, [{{:"$1", :_}, [{:<, :"$1", 50}], [:"$_"]}]}]
        ] do
      test "queries over #{type} with #{inspect(opts)}" do
        {e, t} = pair = pair(unquote(type))
        fill(pair, for(i <- 1..100, do: {i, if(rem(i, 3) == 0, do: :three, else: i * 2)}))
        fill(pair, [{5, :dup}, {5.0, :float}])
        opts = unquote(Macro.escape(opts))

        for q <- @queries do
          he = :qlc.string_to_handle(q, [], [{:T, :ets.table(e, opts)}])
          ht = :qlc.string_to_handle(q, [], [{:T, Tsunami.table(t, opts)}])
          assert sorted(:qlc.e(ht)) == sorted(:qlc.e(he)), List.to_string(q)

          if unquote(type) == :ordered_set and opts in [[], [traverse: :first_next]],
            do: assert(:qlc.e(ht) == :qlc.e(he))
        end

        # Lookups (key-bound queries) go through the lookup function, as for :ets.
        q = ~c"[V || {K, V} <- T, K =:= 7]."
        info_e = :qlc.info(:qlc.string_to_handle(q, [], [{:T, :ets.table(e, opts)}]))
        info_t = :qlc.info(:qlc.string_to_handle(q, [], [{:T, Tsunami.table(t, opts)}]))
        lookup_e = String.contains?(to_string(info_e), "ets:lookup(")
        lookup_t = String.contains?(to_string(info_t), "'Elixir.Tsunami':lookup(")
        assert lookup_t == lookup_e
        assert lookup_t == not match?({:select, _}, Keyword.get(opts, :traverse))
      end
    end

    test "bad options are badarg" do
      t = Tsunami.new(:q, [])
      e = :ets.new(:q, [])

      for opts <- [[traverse: :nope], [n_objects: 0], [n_objects: :many], {:traverse, :bad}] do
        assert {:error, :badarg} = catch_kind(fn -> :ets.table(e, opts) end)
        assert {:error, :badarg} = catch_kind(fn -> Tsunami.table(t, opts) end)
      end
    end

    test "the table is fixed during a query and released after" do
      t = Tsunami.new(:qfix, [])
      Tsunami.insert(t, for(i <- 1..10, do: {i}))

      cursor =
        :qlc.cursor(:qlc.string_to_handle(~c"[X || X <- T].", [], [{:T, Tsunami.table(t)}]))

      assert [_] = :qlc.next_answers(cursor, 1)
      assert Tsunami.info(t, :fixed) == true
      :qlc.delete_cursor(cursor)
      Process.sleep(20)
      assert Tsunami.info(t, :fixed) == false
    end
  end

  describe "foldl/foldr" do
    for type <- @types do
      test "#{type}: results and errors as :ets" do
        {e, t} = pair = pair(unquote(type))
        one = fn _ -> exit(:never_called) end

        # A fun of the wrong arity is fine while there is nothing to fold.
        assert :ets.foldl(one, [], e) == []
        assert Tsunami.foldl(one, [], t) == []
        assert Tsunami.foldr(one, [], t) == :ets.foldr(one, [], e)

        # Unique keys in each list: which of two same-key objects in one list insert
        # wins in a set is undefined (and varies from run to run on :ets).
        fill(pair, for(i <- 1..2500, do: {i, i}))
        fill(pair, for(i <- 1..900, do: {i, -i}))
        add = fn {_, v}, acc -> acc + v end
        assert Tsunami.foldl(add, 0, t) == :ets.foldl(add, 0, e)
        cons = fn o, acc -> [o | acc] end
        assert sorted(Tsunami.foldr(cons, [], t)) == sorted(:ets.foldr(cons, [], e))

        if unquote(type) == :ordered_set do
          assert Tsunami.foldl(cons, [], t) == :ets.foldl(cons, [], e)
          assert Tsunami.foldr(cons, [], t) == :ets.foldr(cons, [], e)
        end

        assert catch_kind(fn -> Tsunami.foldl(one, [], t) end) ==
                 catch_kind(fn -> :ets.foldl(one, [], e) end)

        assert {:error, :badarg} = catch_kind(fn -> :ets.foldl(add, 0, :nope) end)
        assert {:error, :badarg} = catch_kind(fn -> Tsunami.foldl(add, 0, :nope) end)
      end
    end
  end

  describe "i/0..3" do
    test "i/0 lists Tsunami's tables like :ets.i/0 lists :ets's" do
      t = Tsunami.new(:i_listed, [:bag])
      Tsunami.insert(t, [{1}, {2}])
      out = capture_io(fn -> assert Tsunami.i() == :ok end)
      [header, rule | lines] = String.split(out, "\n", trim: true)
      ets_out = capture_io(fn -> :ets.i() end)
      [ets_header, ets_rule | _] = String.split(ets_out, "\n", trim: true)
      assert header == ets_header
      assert rule == ets_rule
      line = Enum.find(lines, &(&1 =~ "i_listed"))
      assert [_id, "i_listed", "bag", "2", _mem, owner] = String.split(line)
      assert owner == to_string(:io_lib.format(~c"~p", [self()]))
    end

    test "i/1 pages like :ets.i/1" do
      e = :ets.new(:i_page, [:ordered_set])
      t = Tsunami.new(:i_page, [:ordered_set])
      objs = for i <- 1..12, do: {i, String.duplicate("x", i * 10)}
      :ets.insert(e, objs)
      Tsunami.insert(t, objs)

      for input <- [
            "q\n",
            "c\nq\n",
            "\n\nq\n",
            "p3\nq\n",
            "pxx\nq\n",
            "/x{50}\nc\nq\n",
            "",
            "c\nc\nc\nq\n"
          ] do
        # (StringIO cannot echo :ets's atom prompts; the pages are compared.)
        io = [input: input, capture_prompt: false]
        ets = capture_io(io, fn -> :ets.i(e, 5, 40) end)
        tsu = capture_io(io, fn -> Tsunami.i(t, 5, 40) end)
        assert tsu == ets, inspect(input)
      end

      assert capture_io([input: "k\n", capture_prompt: false], fn -> Tsunami.i(t) end) =~ "{12,"
      assert Tsunami.info(t) == :undefined
    end
  end
end
