defmodule Tsunami.Mnesia.BackendTest do
  @moduledoc """
  `Tsunami.Mnesia` under a running mnesia: every operation on a `tsunami_copies` table
  is compared with the same operation on a `ram_copies` twin.
  """
  use ExUnit.Case, async: false
  import Tsunami.MnesiaSupport

  setup_all do
    :ok = start!()
  end

  test "exports every callback of mnesia_backend_type" do
    {:module, _} = Code.ensure_loaded(Tsunami.Mnesia)
    callbacks = :mnesia_backend_type.behaviour_info(:callbacks)
    assert length(callbacks) == 36
    missing = for {f, a} <- callbacks, not function_exported?(Tsunami.Mnesia, f, a), do: {f, a}
    assert missing == []
  end

  test "a table is stored in Tsunami, owned by the holder, and gone when deleted" do
    {ram, tsu} = tabs = twins(:own, :set)
    assert :mnesia.table_info(tsu, :storage_type) == {:ext, :tsunami_copies, Tsunami.Mnesia}
    assert :mnesia.table_info(ram, :storage_type) == :ram_copies
    tid = :ets.lookup_element(:mnesia_gvar, {Tsunami.Mnesia, tsu}, 2)
    holder = Process.whereis(Tsunami.Mnesia.Holder)
    assert Tsunami.info(tid, :owner) == holder
    assert Tsunami.info(tid, :keypos) == 2
    assert Tsunami.info(tid, :protection) == :public

    # the index table is a Tsunami table of the backend too
    [{{^tsu, :index, {4, :ordered}}, ix}] =
      :ets.match_object(:mnesia_gvar, {{Tsunami.Mnesia, {tsu, :index, :_}}, :_})
      |> Enum.map(fn {{_, tag}, ix} -> {tag, ix} end)

    assert Tsunami.info(ix, :type) == :ordered_set

    :ok = :mnesia.dirty_write(tsu, {:rec, 1, :a, :x})
    assert Tsunami.lookup(tid, 1) == [{:rec, 1, :a, :x}]
    assert Tsunami.lookup(ix, {:x, 1}) == [{{:x, 1}}]

    drop(tabs)
    assert Tsunami.info(tid) == :undefined
    assert Tsunami.info(ix) == :undefined

    assert :ets.match_object(:mnesia_gvar, {{Tsunami.Mnesia, :_}, :_})
           |> Enum.all?(fn {{_, t}, _} -> t != tsu and not match?({^tsu, _, _}, t) end)
  end

  test "Tsunami options from the table's storage_properties" do
    _ = :mnesia.delete_table(:tuned)

    {:atomic, :ok} =
      :mnesia.create_table(:tuned, [
        {:tsunami_copies, [node()]},
        {:attributes, [:k, :v]},
        {:storage_properties,
         [{:tsunami_copies, [write_concurrency: true, read_concurrency: true, keypos: 5]}]}
      ])

    tid = :ets.lookup_element(:mnesia_gvar, {Tsunami.Mnesia, :tuned}, 2)
    assert Tsunami.info(tid, :write_concurrency) == true
    assert Tsunami.info(tid, :read_concurrency) == true
    # only the concurrency options are taken: the keypos stays mnesia's
    assert Tsunami.info(tid, :keypos) == 2
    {:atomic, :ok} = :mnesia.delete_table(:tuned)
  end

  for type <- [:set, :ordered_set, :bag] do
    @type_ type
    describe "#{type}" do
      setup do
        tabs = twins(:"ops_#{@type_}", @type_)
        on_exit(fn -> drop(tabs) end)
        %{tabs: tabs, type: @type_}
      end

      test "transactions: write, read, delete, delete_object, select, match_object, index_read",
           %{tabs: tabs, type: type} do
        same(tabs, type, "writes", fn t ->
          :mnesia.transaction(fn ->
            for k <- 1..30, do: :mnesia.write(t, {:rec, k, rem(k, 4), {:w, rem(k, 3)}}, :write)
            :mnesia.write(t, {:rec, 5, :extra, {:w, 9}}, :write)
            :mnesia.write(t, {:rec, 6, :other, {:w, 0}}, :sticky_write)
          end)
        end)

        same(tabs, type, "read", fn t ->
          :mnesia.transaction(fn -> for k <- [0, 1, 5, 6, 31], do: :mnesia.read(t, k) end)
        end)

        same(tabs, type, "read with locks", fn t ->
          :mnesia.transaction(fn ->
            :mnesia.lock({:table, t}, :read)
            {:mnesia.read(t, 5, :write), :mnesia.wread({t, 6}), :mnesia.read({t, 7})}
          end)
        end)

        same(tabs, type, "index_read", fn t ->
          :mnesia.transaction(fn ->
            for w <- [{:w, 0}, {:w, 1}, {:w, 9}, :none], do: :mnesia.index_read(t, w, :w)
          end)
        end)

        same(tabs, type, "select", fn t ->
          :mnesia.transaction(fn ->
            {:mnesia.select(t, [{{:rec, :"$1", :"$2", :_}, [{:>, :"$1", 20}], [{{:"$1", :"$2"}}]}]),
             :mnesia.select(t, [{{:rec, 7, :_, :_}, [], [:"$_"]}]),
             :mnesia.select(t, [{{:rec, :_, 2, :"$1"}, [], [:"$1"]}], :write)}
          end)
        end)

        same(tabs, type, "match_object", fn t ->
          :mnesia.transaction(fn ->
            {:mnesia.match_object(t, {:rec, :_, 1, :_}, :read),
             :mnesia.match_object(t, {:rec, 5, :_, :_}, :read)}
          end)
        end)

        same(tabs, type, "delete, delete_object", fn t ->
          :mnesia.transaction(fn ->
            :mnesia.delete(t, 1, :write)
            :mnesia.delete({t, 2})
            :mnesia.delete_object(t, {:rec, 5, :extra, {:w, 9}}, :write)
            :mnesia.delete_object(t, {:rec, 3, :no_such, :value}, :write)
            {:mnesia.read(t, 1), :mnesia.read(t, 5), :mnesia.index_read(t, {:w, 9}, :w)}
          end)
        end)

        same(tabs, type, "contents after commit", &contents/1)

        same(tabs, type, "index after commit", fn t ->
          {:mnesia.dirty_index_read(t, {:w, 2}, :w), :mnesia.dirty_index_read(t, {:w, 9}, :w)}
        end)

        same(tabs, type, "select and write in one transaction", fn t ->
          :mnesia.transaction(fn ->
            :mnesia.write(t, {:rec, 100, :new, {:w, 1}}, :write)
            :mnesia.delete(t, 4, :write)

            {:mnesia.select(t, [{{:rec, :"$1", :_, {:w, 1}}, [], [:"$1"]}]),
             :mnesia.index_read(t, {:w, 1}, :w), :mnesia.all_keys(t)}
          end)
        end)

        same(tabs, type, "foldl", fn t ->
          :mnesia.transaction(fn -> :mnesia.foldl(fn r, acc -> [r | acc] end, [], t) end)
        end)

        assert :mnesia.table_info(elem(tabs, 1), :size) ==
                 :mnesia.table_info(elem(tabs, 0), :size)
      end

      test "aborts and nested transactions", %{tabs: tabs, type: type} do
        same(tabs, type, "setup", fn t ->
          :mnesia.transaction(fn -> :mnesia.write(t, {:rec, 1, :a, :x}, :write) end)
        end)

        same(tabs, type, "abort", fn t ->
          :mnesia.transaction(fn ->
            :mnesia.write(t, {:rec, 2, :b, :x}, :write)
            :mnesia.delete(t, 1, :write)
            :mnesia.abort(:changed_my_mind)
          end)
        end)

        same(tabs, type, "after abort", &contents/1)

        same(tabs, type, "crash aborts", fn t ->
          {:aborted, {reason, _stack}} =
            :mnesia.transaction(fn ->
              :mnesia.write(t, {:rec, 3, :c, :x}, :write)
              raise "boom"
            end)

          {:aborted, reason.__struct__, :mnesia.dirty_read(t, 3)}
        end)

        same(tabs, type, "nested", fn t ->
          :mnesia.transaction(fn ->
            :mnesia.write(t, {:rec, 10, :outer, :y}, :write)

            inner =
              :mnesia.transaction(fn ->
                :mnesia.write(t, {:rec, 11, :inner, :y}, :write)
                :mnesia.abort(:inner_abort)
              end)

            ok =
              :mnesia.transaction(fn ->
                :mnesia.write(t, {:rec, 12, :inner_ok, :y}, :write)
                :mnesia.read(t, 10)
              end)

            {inner, ok, :mnesia.read(t, 11), :mnesia.index_read(t, :y, :w)}
          end)
        end)

        same(tabs, type, "after nested", &contents/1)

        same(tabs, type, "bad record aborts", fn t ->
          :mnesia.transaction(fn -> :mnesia.write(t, {:rec, 1, :too_short}, :write) end)
        end)
      end

      test "dirty operations", %{tabs: tabs, type: type} do
        same(tabs, type, "dirty_write", fn t ->
          for k <- 1..40, do: :mnesia.dirty_write(t, {:rec, k, rem(k, 5), rem(k, 7)})
          :mnesia.dirty_write(t, {:rec, 3, :again, 0})
        end)

        same(tabs, type, "dirty_read", fn t ->
          for k <- [0, 3, 40], do: :mnesia.dirty_read(t, k)
        end)

        same(tabs, type, "dirty_delete, dirty_delete_object", fn t ->
          :mnesia.dirty_delete(t, 4)
          :mnesia.dirty_delete_object(t, {:rec, 3, :again, 0})
          :mnesia.dirty_delete_object(t, {:rec, 5, :nope, 5})
          {:mnesia.dirty_read(t, 3), :mnesia.dirty_read(t, 4), :mnesia.dirty_read(t, 5)}
        end)

        same(tabs, type, "dirty_select", fn t ->
          {:mnesia.dirty_select(t, [{{:rec, :"$1", 2, :_}, [], [:"$1"]}]),
           :mnesia.dirty_select(t, [{{:rec, 10, :_, :_}, [], [:"$_"]}]),
           :mnesia.dirty_select(t, [{:_, [{:<, {:element, 2, :"$_"}, 5}], [:"$_"]}])}
        end)

        same(tabs, type, "dirty_match_object", fn t ->
          {:mnesia.dirty_match_object(t, {:rec, :_, 1, :_}),
           :mnesia.dirty_match_object(t, {:rec, 7, :_, :_})}
        end)

        same(tabs, type, "dirty_index_read", fn t ->
          for w <- 0..7, do: :mnesia.dirty_index_read(t, w, :w)
        end)

        same(tabs, type, "dirty_index_match_object", fn t ->
          :mnesia.dirty_index_match_object(t, {:rec, :_, :_, 3}, :w)
        end)

        same(tabs, type, "all_keys", &:mnesia.dirty_all_keys/1)
        same(tabs, type, "first/next walk", &walk(&1, :dirty_first, :dirty_next))
        same(tabs, type, "last/prev walk", &walk(&1, :dirty_last, :dirty_prev))
        same(tabs, type, "slots", &slots/1)
        same(tabs, type, "size", &:mnesia.table_info(&1, :size))

        for t <- Tuple.to_list(tabs) do
          mem = :mnesia.table_info(t, :memory)
          assert is_integer(mem) and mem > 0
        end

        same(tabs, type, "empty walk", fn t ->
          :mnesia.clear_table(t)
          {:mnesia.dirty_first(t), :mnesia.dirty_last(t), :mnesia.table_info(t, :size)}
        end)
      end

      test "activity/2 in every access context", %{tabs: tabs, type: type} do
        for context <- [:transaction, :sync_transaction, :async_dirty, :sync_dirty] do
          same(tabs, type, "activity #{context}", fn t ->
            :mnesia.activity(context, fn ->
              for k <- 1..10, do: :mnesia.write(t, {:rec, k, context, rem(k, 2)}, :write)
              :mnesia.delete(t, 3, :write)

              {:mnesia.read(t, 2), :mnesia.index_read(t, 1, :w),
               :mnesia.select(t, [{{:rec, :"$1", :_, 0}, [], [:"$1"]}]),
               :mnesia.match_object(t, {:rec, :_, context, 1}, :read), :mnesia.all_keys(t)}
            end)
          end)
        end

        same(tabs, type, "contents", &contents/1)

        # The `ets` context is mnesia's shortcut to raw :ets calls on the table's name,
        # which exists for ram_copies tables only; on every external backend (OTP's
        # ext_test too) it fails.
        {ram, tsu} = tabs
        assert :mnesia.activity(:ets, fn -> :mnesia.read(ram, 1) end) != []
        assert catch_exit(:mnesia.activity(:ets, fn -> :mnesia.read(tsu, 1) end))
      end

      test "select/4 continuations", %{tabs: tabs, type: type} do
        same(tabs, type, "fill", fn t ->
          for k <- 1..257, do: :mnesia.dirty_write(t, {:rec, k, rem(k, 10), k * 2})
        end)

        for {ms, chunk} <- [
              {[{:_, [], [:"$_"]}], 7},
              {[{{:rec, :"$1", 3, :_}, [], [:"$1"]}], 5},
              {[{{:rec, :"$1", :_, :"$2"}, [{:>, :"$2", 400}], [:"$2"]}], 100},
              {[{{:rec, :"$1", :_, :_}, [{:<, :"$1", 0}], [:"$1"]}], 3}
            ] do
          same(tabs, type, "select/4 #{inspect(ms)} by #{chunk}", fn t ->
            :mnesia.activity(:transaction, fn ->
              select_all(:mnesia.select(t, ms, chunk, :read))
            end)
          end)

          # mnesia applies the spec to the first chunk only when the transaction wrote to
          # the table (later chunks come back as whole records, on ram_copies too): which
          # results are records follows the table's order, so for hash tables only the
          # number of results compares.
          with_write = fn t ->
            :mnesia.activity(:transaction, fn ->
              :mnesia.write(t, {:rec, 1000, 3, 2000}, :write)
              r = select_all(:mnesia.select(t, ms, chunk, :read))
              :mnesia.abort({:undo, r})
            end)
          end

          same(tabs, type, "select/4 with a write in the transaction", fn t ->
            {:aborted, {:undo, r}} = catch_exit(with_write.(t))
            if type == :ordered_set, do: r, else: length(r)
          end)
        end
      end

      test "change_table_copy_type between ram_copies and tsunami_copies", %{
        tabs: {ram, tsu} = tabs,
        type: type
      } do
        same(tabs, type, "fill", fn t ->
          for k <- 1..50, do: :mnesia.dirty_write(t, {:rec, k, rem(k, 3), rem(k, 4)})
        end)

        before = normalize(contents(tsu), type)
        assert {:atomic, :ok} = :mnesia.change_table_copy_type(tsu, node(), :ram_copies)
        assert :mnesia.table_info(tsu, :storage_type) == :ram_copies
        assert normalize(contents(tsu), type) == before
        assert {:atomic, :ok} = :mnesia.change_table_copy_type(tsu, node(), :tsunami_copies)
        assert :mnesia.table_info(tsu, :storage_type) == {:ext, :tsunami_copies, Tsunami.Mnesia}
        assert normalize(contents(tsu), type) == before
        same(tabs, type, "index after changes", &:mnesia.dirty_index_read(&1, 2, :w))

        # and the other way: the ram_copies twin becomes a tsunami_copies table
        assert {:atomic, :ok} = :mnesia.change_table_copy_type(ram, node(), :tsunami_copies)
        assert normalize(contents(ram), type) == before
        assert {:atomic, :ok} = :mnesia.change_table_copy_type(ram, node(), :ram_copies)
        same(tabs, type, "written after", &:mnesia.dirty_write(&1, {:rec, 99, 0, 0}))
        same(tabs, type, "contents after", &contents/1)
      end
    end
  end

  describe "counters" do
    setup do
      tabs = twins(:cnt, :set, attributes: [:k, :n], index: [], record_name: :cnt)
      os = twins(:cnt_os, :ordered_set, attributes: [:k, :n], index: [], record_name: :cnt)
      bag = twins(:cnt_bag, :bag, attributes: [:k, :n], index: [], record_name: :cnt)
      on_exit(fn -> Enum.each([tabs, os, bag], &drop/1) end)
      %{set: tabs, os: os, bag: bag}
    end

    test "dirty_update_counter", %{set: set, os: os, bag: bag} do
      for {tabs, type} <- [{set, :set}, {os, :ordered_set}] do
        same(tabs, type, "counters", fn t ->
          for {k, incr} <- [a: 1, a: 5, b: -3, a: -2, b: 4, c: 0, a: -100, a: 7] do
            :mnesia.dirty_update_counter(t, k, incr)
          end
        end)

        same(tabs, type, "counter records", &contents/1)

        same(tabs, type, "counter in a transaction", fn t ->
          :mnesia.transaction(fn -> :mnesia.dirty_update_counter(t, :a, 1) end)
        end)

        same(tabs, type, "not a counter", fn t ->
          :mnesia.dirty_write(t, {:cnt, :s, :not_an_integer})

          try do
            :mnesia.dirty_update_counter(t, :s, 1)
          catch
            kind, reason -> {kind, reason}
          end
        end)
      end

      same(bag, :bag, "counter on a bag", fn t ->
        try do
          :mnesia.dirty_update_counter(t, :a, 1)
        catch
          kind, {:aborted, {reason, _tab, what}} -> {kind, reason, what}
        end
      end)
    end
  end

  test "index of type bag" do
    tabs = twins(:bag_ix, :set, index: [{:w, :bag}])
    on_exit(fn -> drop(tabs) end)
    {_, tsu} = tabs

    assert [{{^tsu, :index, {4, :bag}}, ix}] =
             :ets.match_object(:mnesia_gvar, {{Tsunami.Mnesia, {tsu, :index, :_}}, :_})
             |> Enum.map(fn {{_, tag}, ix} -> {tag, ix} end)

    assert Tsunami.info(ix, :type) == :bag

    same(tabs, :set, "writes", fn t ->
      for k <- 1..20, do: :mnesia.dirty_write(t, {:rec, k, k, rem(k, 3)})
      :mnesia.dirty_write(t, {:rec, 1, 1, 2})
      :mnesia.dirty_delete(t, 2)
    end)

    same(tabs, :set, "index_read", fn t ->
      {for(w <- 0..3, do: :mnesia.dirty_index_read(t, w, :w)),
       :mnesia.transaction(fn -> :mnesia.index_read(t, 1, :w) end)}
    end)
  end

  test "add_table_index and del_table_index on a loaded table" do
    tabs = twins(:late_ix, :ordered_set, index: [])
    on_exit(fn -> drop(tabs) end)

    same(tabs, :ordered_set, "writes", fn t ->
      for k <- 1..20, do: :mnesia.dirty_write(t, {:rec, k, rem(k, 4), k})
    end)

    same(tabs, :ordered_set, "add index", &:mnesia.add_table_index(&1, :v))
    same(tabs, :ordered_set, "index_read", &:mnesia.dirty_index_read(&1, 2, :v))
    same(tabs, :ordered_set, "del index", &:mnesia.del_table_index(&1, :v))
  end

  test "checkpoints and backups (retainers through the backend)" do
    tabs = twins(:chk, :set)
    on_exit(fn -> drop(tabs) end)

    backups =
      for t <- Tuple.to_list(tabs) do
        for k <- 1..10, do: :ok = :mnesia.dirty_write(t, {:rec, k, k, k})

        {:ok, name, _nodes} =
          :mnesia.activate_checkpoint([{:max, [t]}, {:ram_overrides_dump, true}])

        :ok = :mnesia.dirty_write(t, {:rec, 1, :changed, 1})
        :ok = :mnesia.dirty_delete(t, 2)
        :ok = :mnesia.dirty_write(t, {:rec, 11, :new, 11})

        file =
          Path.join(System.tmp_dir!(), "tsunami_mnesia_bup_#{System.unique_integer([:positive])}")

        :ok = :mnesia.backup_checkpoint(name, String.to_charlist(file))
        :ok = :mnesia.deactivate_checkpoint(name)

        {:ok, records} =
          :mnesia.traverse_backup(
            String.to_charlist(file),
            :mnesia_backup,
            :dummy,
            :read_only,
            fn
              r, acc when elem(r, 0) == t -> {[r], [Tuple.delete_at(r, 0) | acc]}
              other, acc -> {[other], acc}
            end,
            []
          )

        File.rm(file)
        Enum.sort(records)
      end

    [ram_backup, tsu_backup] = backups
    assert tsu_backup == ram_backup
    refute :ets.match_object(:mnesia_gvar, {{Tsunami.Mnesia, {:_, :retainer, :_}}, :_}) != []
  end

  defp walk(t, first, next) do
    Stream.unfold(apply(:mnesia, first, [t]), fn
      :"$end_of_table" -> nil
      k -> {k, apply(:mnesia, next, [t, k])}
    end)
    |> Enum.to_list()
  end

  defp slots(t) do
    Stream.iterate(0, &(&1 + 1))
    |> Stream.map(&:mnesia.dirty_slot(t, &1))
    |> Enum.take_while(&(&1 != :"$end_of_table"))
    |> List.flatten()
  end

  defp select_all(:"$end_of_table"), do: []
  defp select_all({objs, cont}), do: objs ++ select_all(:mnesia.select(cont))
end
