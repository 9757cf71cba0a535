defmodule Tsunami.Mnesia.ClusterTest do
  @moduledoc """
  A `tsunami_copies` table replicated on three peer nodes (separate OS processes):
  writers on every node, one node SIGKILLed in the middle of its writes, the others
  go on; the node restarts, loads the table from a surviving node through the
  backend's copy protocol (`sender_init/4` there, `receive_data/5` here), and all
  three copies, and their indexes, are equal.
  """
  use ExUnit.Case, async: false
  alias Tsunami.MnesiaCluster, as: C

  @moduletag timeout: 300_000

  setup do
    dir = Path.join(System.tmp_dir!(), "tsunami_cluster_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    names = for i <- 1..3, do: :"tsunami_mn#{i}_#{System.unique_integer([:positive])}"
    peers = for name <- names, do: C.start_peer(name, dir)

    # (a peer whose test VM is gone exits too: its control connection is its stdin)
    on_exit(fn ->
      for {pid, _} <- peers, do: stop(pid)
      File.rm_rf(dir)
    end)

    %{dir: dir, names: names, peers: peers}
  end

  test "writers on every node, one node SIGKILLed and restarted, all copies equal", ctx do
    run(ctx, 300, 1)
  end

  test "add_table_copy, move_table_copy, del_table_copy of a tsunami_copies table", %{
    peers: peers
  } do
    nodes = for {_, node} <- peers, do: node
    [{a, na}, {b, nb}, {c, nc}] = peers
    :ok = C.on(a, :create_schema_only, [nodes])

    {:atomic, :ok} =
      C.on(a, :mnesia, [
        :create_table,
        [
          :moves,
          [{:tsunami_copies, [na]}, {:type, :bag}, {:attributes, [:k, :v, :w]}, {:index, [:w]}]
        ]
      ])

    :ok = C.on(a, :fill, [:moves, 1..500])
    expected = C.on(a, :local_copy, [:moves])
    assert length(expected) == 500
    assert C.on(b, :local_copy, [:moves]) == :no_copy

    # a copy on b, loaded from a through sender_init/receive_data
    assert {:atomic, :ok} = C.on(a, :mnesia, [:add_table_copy, [:moves, nb, :tsunami_copies]])
    assert C.on(b, :local_copy, [:moves]) == expected

    assert C.on(b, :mnesia, [:table_info, [:moves, :storage_type]]) ==
             {:ext, :tsunami_copies, Tsunami.Mnesia}

    # both copies take new writes; index reads on b use b's own index table
    :ok = C.on(b, :fill, [:moves, 501..600])
    expected = C.on(a, :local_copy, [:moves])
    assert C.on(b, :local_copy, [:moves]) == expected

    assert length(C.on(b, :mnesia, [:dirty_index_read, [:moves, 3, :w]])) ==
             Enum.count(1..600, &(rem(&1, 7) == 3))

    # the copy on b moves to c
    assert {:atomic, :ok} = C.on(a, :mnesia, [:move_table_copy, [:moves, nb, nc]])
    assert C.on(c, :local_copy, [:moves]) == expected
    assert C.on(b, :local_copy, [:moves]) == :no_copy

    # a's copy goes; c holds the table alone
    assert {:atomic, :ok} = C.on(c, :mnesia, [:del_table_copy, [:moves, na]])
    assert C.on(a, :local_copy, [:moves]) == :no_copy
    assert C.on(c, :mnesia, [:table_info, [:moves, :active_replicas]]) == [nc]
    assert C.on(a, :mnesia, [:dirty_read, [:moves, 7]]) == [{:moves, 7, 70, 0}]
  end

  test "tables live as long as mnesia: stop deletes them, a holder death stops mnesia", %{
    peers: [{a, na} | _]
  } do
    :ok = C.on(a, :create_schema_only, [[na]])
    before = C.on(a, :tsunami_tables)

    {:atomic, :ok} =
      C.on(a, :mnesia, [
        :create_table,
        [:life, [{:tsunami_copies, [na]}, {:index, [:v]}, {:attributes, [:k, :v]}]]
      ])

    assert C.on(a, :tsunami_tables) == before + 2

    # mnesia stops: its tables go with it (as ram_copies tables go with mnesia_monitor)
    assert C.on(a, :mnesia, [:stop, []]) == :stopped
    assert C.on(a, :tsunami_tables) == before

    # a new session loads the table again (empty: ram semantics)
    assert C.on(a, :mnesia, [:start, []]) == :ok
    assert C.on(a, :mnesia, [:wait_for_tables, [[:life], 30_000]]) == :ok
    assert C.on(a, :mnesia, [:dirty_write, [{:life, 1, :x}]]) == :ok
    assert C.on(a, :tsunami_tables) == before + 2

    # the holder dies under a running mnesia: mnesia stops rather than run on without
    # its tables
    :ok = C.on(a, :kill_holder)
    assert C.on(a, :mnesia_running_after, [10_000]) == :no
    assert C.on(a, :tsunami_tables) == before
  end

  @tag :long
  test "long: five kill/restart rounds under writes", ctx do
    run(ctx, 2_000, 5)
  end

  defp stop(pid) do
    :peer.stop(pid)
  catch
    :exit, _ -> :ok
  end

  defp run(%{dir: dir, names: [_, _, victim_name], peers: peers}, per_writer, rounds) do
    nodes = for {_, node} <- peers, do: node
    [{a, _}, {b, _}, {victim, _}] = peers
    :ok = C.on(a, :create_cluster, [nodes])

    last =
      Enum.reduce(1..rounds, victim, fn round, victim ->
        base = (round - 1) * per_writer

        # writers on all three nodes; the survivors must finish all their writes
        survivors =
          for {peer, tag} <- [{a, :a}, {b, :b}] do
            Task.async(fn ->
              C.on(peer, :writer, [tag, base..(base + per_writer - 1)], :infinity)
            end)
          end

        doomed =
          Task.async(fn ->
            catch_exit(C.on(victim, :writer, [:c, base..(base + per_writer - 1)], :infinity))
          end)

        # kill the third node once its writes are well under way
        assert Tsunami.TestSupport.wait_until(
                 fn -> C.on(a, :local_size) > div(per_writer, 2) end,
                 2_000,
                 10
               )

        C.kill9(victim)
        # its writer died with it, mid-way
        doomed_result = Task.await(doomed, :infinity)
        refute is_integer(doomed_result), "the victim finished its writes before the kill"

        assert Enum.map(survivors, &Task.await(&1, :infinity)) == [per_writer, per_writer]
        # (a's mnesia learns of the death when its connection to the node drops)
        survivors_only = Enum.sort(nodes -- [Enum.at(nodes, 2)])

        assert Tsunami.TestSupport.wait_until(
                 fn -> C.on(a, :active_replicas) == survivors_only end,
                 200,
                 50
               )

        # restart the node: it loads its copy from a survivor
        {victim, node} = C.start_peer(victim_name, dir)
        assert node == Enum.at(nodes, 2)
        assert C.on(victim, :rejoin, [60_000]) == :ok
        # ram semantics: the copy came over the network from a survivor
        assert {from, {:active_remote, _}} = C.on(victim, :load_info)
        assert from in Enum.take(nodes, 2)

        assert Tsunami.TestSupport.wait_until(
                 fn -> C.on(a, :active_replicas) == Enum.sort(nodes) end,
                 600,
                 50
               )

        # a commit on ram-semantics tables reaches the other replicas asynchronously
        # (sym_trans: the coordinator broadcasts do_commit and returns; `sync_transaction`
        # would wait): the copies are compared once they settle
        copies = fn -> for p <- [a, b, victim], do: C.on(p, :local_contents) end

        Tsunami.TestSupport.wait_until(
          fn -> copies.() |> Enum.uniq() |> length() == 1 end,
          100,
          50
        )

        copies = copies.()
        [copy_a, copy_b, copy_c] = copies
        assert copy_b == copy_a
        assert copy_c == copy_a
        assert Enum.map([a, b, victim], &C.on(&1, :local_index)) |> Enum.uniq() |> length() == 1

        # every committed transaction is whole: each writer's counter record counts
        # exactly the records it wrote
        for tag <- [:a, :b, :c] do
          written = Enum.count(copy_a, &match?({_, {^tag, i}, _, _} when is_integer(i), &1))

          count =
            Enum.find_value(copy_a, 0, fn
              {_, {^tag, :count}, n, _} -> n
              _ -> nil
            end)

          assert count == written, "#{tag}: counter #{count}, records #{written}"
        end

        victim
      end)

    stop(last)
  end
end
