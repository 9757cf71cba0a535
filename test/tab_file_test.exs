defmodule Tsunami.TabFileTest do
  # tab2file/file2tab/tabfile_info against :ets: files written by either load in both,
  # with the same tables, the same header info and the same errors.
  use ExUnit.Case, async: true

  @moduletag :tmp_dir

  @types [:set, :ordered_set, :bag, :duplicate_bag]
  @ext_options [
    [],
    [extended_info: [:object_count]],
    [extended_info: [:md5sum]],
    [extended_info: [:object_count, :md5sum]],
    [sync: true]
  ]

  defp objects(type) do
    base =
      for i <- 1..2500 do
        {i, "value-#{i}", [i, i * 2.5], %{i => i}}
      end

    extra = [{:atom_key, {:nested, [1, 2]}}, {"bin", <<1, 2, 3>>}, {1.5, -0.5}, {2 ** 80, :big}]
    dups = if type in [:bag, :duplicate_bag], do: [{1, :second}, {1, :third}], else: []
    dups = if type == :duplicate_bag, do: dups ++ [{1, :third}], else: dups
    base ++ extra ++ dups
  end

  defp sorted(list), do: Enum.sort(list)

  # Tables this test process owns (other tests run concurrently).
  defp own_tables, do: Enum.filter(Tsunami.all(), &(Tsunami.info(&1, :owner) == self()))

  # A result, or the class of error raised (:ets raises when a damaged byte turns the
  # trailer into something that is not an object; Tsunami must then raise too).
  defp outcome(fun) do
    fun.()
  rescue
    e -> {:raised, e.__struct__}
  end

  defp file(dir, name), do: String.to_charlist(Path.join(dir, name))

  defp new_pair(name, opts) do
    e = :ets.new(name, opts)
    t = Tsunami.new(name, opts)
    {e, t}
  end

  for type <- @types, {ext, n} <- Enum.with_index(@ext_options) do
    test "#{type} with #{inspect(ext)}: files written by either load in both", %{tmp_dir: dir} do
      type = unquote(type)
      ext = unquote(Macro.escape(ext))
      name = :"tf_#{type}_#{unquote(n)}"
      opts = [type, :public, {:keypos, 1}, {:write_concurrency, true}]
      {e, t} = new_pair(name, opts)
      objs = objects(type)
      :ets.insert(e, objs)
      Tsunami.insert(t, objs)

      ets_file = file(dir, "ets.tab")
      tsu_file = file(dir, "tsu.tab")
      assert :ets.tab2file(e, ets_file, ext) == :ok
      assert Tsunami.tab2file(t, tsu_file, ext) == :ok

      # The headers say the same (the id aside, which :ets does not report).
      {:ok, ets_info} = :ets.tabfile_info(ets_file)
      assert Tsunami.tabfile_info(ets_file) == {:ok, ets_info}
      assert :ets.tabfile_info(tsu_file) == {:ok, ets_info}
      assert Tsunami.tabfile_info(tsu_file) == {:ok, ets_info}

      for f <- [ets_file, tsu_file], verify <- [true, false] do
        {:ok, e2} = :ets.file2tab(f, verify: verify)
        {:ok, t2} = Tsunami.file2tab(f, verify: verify)
        assert sorted(Tsunami.tab2list(t2)) == sorted(:ets.tab2list(e2))
        assert sorted(Tsunami.tab2list(t2)) == sorted(objs)

        for item <- [:type, :protection, :keypos, :size, :write_concurrency, :read_concurrency] do
          assert Tsunami.info(t2, item) == :ets.info(e2, item), "#{item}"
        end

        if type == :ordered_set, do: assert(Tsunami.tab2list(t2) == :ets.tab2list(e2))
        :ets.delete(e2)
        Tsunami.delete(t2)
      end
    end
  end

  test "named tables keep their name, keypos and protection", %{tmp_dir: dir} do
    opts = [:bag, :named_table, :private, {:keypos, 2}]
    {e, t} = {:ets.new(:tf_named_e, opts), Tsunami.new(:tf_named_t, opts)}
    :ets.insert(e, [{:a, 1}, {:b, 2}])
    Tsunami.insert(t, [{:a, 1}, {:b, 2}])
    assert :ets.tab2file(e, file(dir, "e")) == :ok
    assert Tsunami.tab2file(t, file(dir, "t")) == :ok
    :ets.delete(e)
    Tsunami.delete(t)

    # Each loads into the other's implementation under its own name.
    assert {:ok, :tf_named_e} = Tsunami.file2tab(file(dir, "e"))
    assert {:ok, :tf_named_t} = :ets.file2tab(file(dir, "t"))

    for {info, tab} <- [{&Tsunami.info/2, :tf_named_e}, {&:ets.info/2, :tf_named_t}] do
      assert info.(tab, :named_table) == true
      assert info.(tab, :keypos) == 2
      assert info.(tab, :protection) == :private
      assert info.(tab, :type) == :bag
      assert info.(tab, :owner) == self()
    end

    # A named table that exists already cannot be created again.
    assert Tsunami.file2tab(file(dir, "e")) == {:error, :cannot_create_table}
    assert :ets.file2tab(file(dir, "t")) == {:error, :cannot_create_table}
  end

  test "{:table, tab} loads into an existing table", %{tmp_dir: dir} do
    t = Tsunami.new(:src, [])
    Tsunami.insert(t, [{1}, {2}])
    :ok = Tsunami.tab2file(t, file(dir, "f"))
    into = Tsunami.new(:into, [:ordered_set])
    Tsunami.insert(into, {0})
    assert Tsunami.file2tab(file(dir, "f"), table: into) == {:ok, into}
    assert Tsunami.tab2list(into) == [{0}, {1}, {2}]
  end

  test "a file of 100k objects round-trips in term order", %{tmp_dir: dir} do
    t = Tsunami.new(:big, [:ordered_set])
    Tsunami.insert(t, for(i <- 1..100_000, do: {i, i * i}))
    f = file(dir, "big")
    :ok = Tsunami.tab2file(t, f, extended_info: [:md5sum, :object_count])
    {:ok, e} = :ets.file2tab(f, verify: true)
    assert :ets.tab2list(e) == Tsunami.tab2list(t)
  end

  describe "errors are the same as :ets's" do
    setup %{tmp_dir: dir} do
      e = :ets.new(:errs, [:set])
      t = Tsunami.new(:errs, [:set])
      objs = for i <- 1..500, do: {i, :crypto.strong_rand_bytes(20)}
      :ets.insert(e, objs)
      Tsunami.insert(t, objs)
      %{e: e, t: t, dir: dir}
    end

    test "bad options", %{e: e, t: t, dir: dir} do
      f = file(dir, "opts")

      for opts <- [
            [:bad],
            [{:sync, :maybe}],
            [extended_info: [:nope]],
            [extended_info: :nope],
            [extended_info: [], extended_info: []],
            [{:sync, true} | :improper]
          ] do
        assert Tsunami.tab2file(t, f, opts) == :ets.tab2file(e, f, opts), inspect(opts)
      end

      :ok = :ets.tab2file(e, f)

      for opts <- [[:bad], [verify: :maybe], :notalist, [table: e, table: e]] do
        assert Tsunami.file2tab(f, opts) == :ets.file2tab(f, opts), inspect(opts)
      end

      assert_raise FunctionClauseError, fn -> Tsunami.tab2file(t, f, :notalist) end
      assert_raise FunctionClauseError, fn -> :ets.tab2file(e, f, :notalist) end
    end

    test "missing files, directories and non-log files", %{dir: dir} do
      missing = file(dir, "missing")
      assert Tsunami.file2tab(missing) == :ets.file2tab(missing)
      assert Tsunami.tabfile_info(missing) == :ets.tabfile_info(missing)
      assert {:error, {:read_error, _}} = Tsunami.file2tab(missing)

      garbage = file(dir, "garbage")
      File.write!(garbage, "this is not a disk log at all")
      assert Tsunami.file2tab(garbage) == :ets.file2tab(garbage)
      assert Tsunami.tabfile_info(garbage) == :ets.tabfile_info(garbage)

      # A log whose first term is not a table header.
      {:ok, log} = :disk_log.open(name: :not_a_tab, file: file(dir, "log"))
      :ok = :disk_log.log_terms(log, [{:hello}, {:world}])
      :ok = :disk_log.close(log)
      assert Tsunami.file2tab(file(dir, "log")) == {:error, :badfile}
      assert :ets.file2tab(file(dir, "log")) == {:error, :badfile}
      assert Tsunami.tabfile_info(file(dir, "log")) == :ets.tabfile_info(file(dir, "log"))
    end

    test "tables that do not exist or cannot be read", %{dir: dir} do
      f = file(dir, "nope")
      assert Tsunami.tab2file(:no_such_table, f) == :ets.tab2file(:no_such_table, f)
      assert Tsunami.tab2file(:no_such_table, f) == {:error, :badtab}
      refute File.exists?(f)
      assert_raise ArgumentError, fn -> Tsunami.tab2file(123, f) end
      assert_raise ArgumentError, fn -> :ets.tab2file(123, f) end

      # A private table of another process: badarg, and no file left behind.
      me = self()

      spawn(fn ->
        send(me, {:tabs, :ets.new(:p, [:private]), Tsunami.new(:p, [:private])})
        Process.sleep(:infinity)
      end)

      assert_receive {:tabs, pe, pt}
      assert_raise ArgumentError, fn -> :ets.tab2file(pe, f) end
      refute File.exists?(f)
      assert_raise ArgumentError, fn -> Tsunami.tab2file(pt, f) end
      refute File.exists?(f)
    end

    for {what, ext} <- [
          plain: [],
          md5: [extended_info: [:md5sum]],
          count: [extended_info: [:object_count]]
        ] do
      test "truncated and corrupted #{what} files", %{e: e, dir: dir} do
        f = file(dir, "good")
        :ok = :ets.tab2file(e, f, unquote(ext))
        good = File.read!(f)
        size = byte_size(good)

        variants =
          [
            truncated_half: binary_part(good, 0, div(size, 2)),
            truncated_end: binary_part(good, 0, size - 7),
            header_only: binary_part(good, 0, 200)
          ] ++
            for at <- [div(size, 3), div(size, 2), size - 30] do
              <<a::binary-size(at), byte, b::binary>> = good
              {:"flip_#{at}", <<a::binary, Bitwise.bxor(byte, 0xFF), b::binary>>}
            end

        for {label, bytes} <- variants, verify <- [true, false] do
          bad = file(dir, "bad_#{label}")
          File.write!(bad, bytes)
          before = own_tables()
          ets = outcome(fn -> :ets.file2tab(bad, verify: verify) end)
          tsu = outcome(fn -> Tsunami.file2tab(bad, verify: verify) end)

          case ets do
            {:ok, et} ->
              assert {:ok, tt} = tsu, "#{label} verify=#{verify}"
              assert sorted(Tsunami.tab2list(tt)) == sorted(:ets.tab2list(et))
              :ets.delete(et)
              Tsunami.delete(tt)

            _error_or_raise ->
              assert tsu == ets, "#{label} verify=#{verify}"
              # Nothing half-loaded is left behind.
              assert own_tables() == before
          end
        end
      end
    end
  end
end
