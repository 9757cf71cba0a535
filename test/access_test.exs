defmodule Tsunami.AccessTest do
  @moduledoc """
  Access rules from foreign processes, ownership, heir and give_away, each scenario run
  on `:ets` and on Tsunami and compared.
  """
  use ExUnit.Case, async: true
  alias Tsunami.TestSupport
  alias Tsunami.Oracle

  @ops [
    lookup: &__MODULE__.op_lookup/2,
    member: &__MODULE__.op_member/2,
    lookup_element: &__MODULE__.op_lookup_element/2,
    tab2list: &__MODULE__.op_tab2list/2,
    first: &__MODULE__.op_first/2,
    next: &__MODULE__.op_next/2,
    info: &__MODULE__.op_info/2,
    info_size: &__MODULE__.op_info_size/2,
    insert: &__MODULE__.op_insert/2,
    insert_new: &__MODULE__.op_insert_new/2,
    delete_key: &__MODULE__.op_delete_key/2,
    delete_object: &__MODULE__.op_delete_object/2,
    take: &__MODULE__.op_take/2,
    update_counter: &__MODULE__.op_update_counter/2,
    update_element: &__MODULE__.op_update_element/2,
    delete_all_objects: &__MODULE__.op_delete_all_objects/2,
    rename: &__MODULE__.op_rename/2,
    give_away: &__MODULE__.op_give_away/2,
    setopts: &__MODULE__.op_setopts/2,
    delete: &__MODULE__.op_delete/2
  ]

  def op_lookup(m, t), do: m.lookup(t, :k)
  def op_member(m, t), do: m.member(t, :k)
  def op_lookup_element(m, t), do: m.lookup_element(t, :k, 2)
  def op_tab2list(m, t), do: m.tab2list(t)
  def op_first(m, t), do: m.first(t)
  def op_next(m, t), do: m.next(t, :k)
  def op_info(m, t), do: m.info(t) |> is_list()
  def op_info_size(m, t), do: m.info(t, :size)
  def op_insert(m, t), do: m.insert(t, {:new, 1})
  def op_insert_new(m, t), do: m.insert_new(t, {:new2, 1})
  def op_delete_key(m, t), do: m.delete(t, :nothing)
  def op_delete_object(m, t), do: m.delete_object(t, {:nothing, 1})
  def op_take(m, t), do: m.take(t, :nothing)
  def op_update_counter(m, t), do: m.update_counter(t, :k, 1)
  def op_update_element(m, t), do: m.update_element(t, :k, {2, 5})
  def op_delete_all_objects(m, t), do: m.delete_all_objects(t)
  def op_rename(m, t), do: m.rename(t, :access_renamed)
  def op_give_away(m, t), do: m.give_away(t, self(), :gift)
  def op_setopts(m, t), do: m.setopts(t, {:heir, :none})
  def op_delete(m, t), do: m.delete(t)

  for protection <- [:public, :protected, :private], {name, fun} <- @ops do
    test "#{protection}: #{name} from another process" do
      p = Oracle.new([unquote(protection)])
      Oracle.check(p, fn m, t -> m.insert(t, {:k, 1}) end)
      fun = unquote(fun)
      tab_e = p.ets
      tab_t = p.tsu

      e = Oracle.in_process(fn -> Oracle.run(Oracle.Ets, tab_e, fun) end)
      t = Oracle.in_process(fn -> Oracle.run(Tsunami, tab_t, fun) end)

      assert Oracle.same?(e, t), """
      #{unquote(protection)} #{unquote(name)} from a foreign process differs
        ets:     #{inspect(e)}
        tsunami: #{inspect(t)}
      """

      # the owner still sees the same table on both
      Oracle.check(p, fn m, t -> m.info(t, :size) end)

      Oracle.check_sorted(p, fn m, t ->
        if m.info(t) == :undefined, do: [], else: m.tab2list(t)
      end)
    end
  end

  test "info works on private tables from any process; the owner may do anything" do
    p = Oracle.new([:private])
    Oracle.check(p, fn m, t -> m.insert(t, {:k, 1}) end)

    for {_name, fun} <- @ops, fun != (&__MODULE__.op_delete/2) do
      Oracle.check(p, fun)
    end
  end

  defp spawn_owner(mod, opts, name) do
    parent = self()

    pid =
      spawn(fn ->
        t = mod.new(name, opts)
        mod.insert(t, {:k, 1})
        send(parent, {:table, self(), t})

        receive do
          :exit -> :ok
        end
      end)

    receive do
      {:table, ^pid, t} -> {pid, t}
    end
  end

  defp stop(pid) do
    ref = Process.monitor(pid)
    send(pid, :exit)
    assert_receive {:DOWN, ^ref, _, _, _}
  end

  test "owner exit deletes the table and frees the name" do
    name = :"access_owner_#{System.unique_integer([:positive])}"

    for {mod, opts} <- [
          {:ets, []},
          {Tsunami, []},
          {:ets, [:named_table]},
          {Tsunami, [:named_table]}
        ] do
      {pid, t} = spawn_owner(mod, opts, name)
      assert mod.lookup(t, :k) == [{:k, 1}]
      assert mod.info(t, :owner) == pid
      stop(pid)
      # the table goes away when its owner exits (asynchronously for Tsunami)
      assert TestSupport.wait_until(fn -> mod.info(t) == :undefined end),
             "#{mod} #{inspect(opts)}"

      assert mod.info(t, :size) == :undefined
      assert_raise ArgumentError, fn -> mod.lookup(t, :k) end

      if :named_table in opts do
        assert mod.whereis(name) == :undefined
        t2 = mod.new(name, [:named_table])
        assert mod.info(t2, :owner) == self()
        mod.delete(t2)
      end
    end
  end

  test "heir receives ETS-TRANSFER and becomes owner" do
    name = :"access_heir_#{System.unique_integer([:positive])}"

    for mod <- [:ets, Tsunami], opts <- [[], [:named_table]] do
      heir = self()
      {pid, t} = spawn_owner(mod, [{:heir, heir, {:heir_data, mod}} | opts], name)
      assert mod.info(t, :heir) == heir
      ref = Process.monitor(pid)
      send(pid, :exit)
      expected_tab = if :named_table in opts, do: name, else: t
      assert_receive {:"ETS-TRANSFER", ^expected_tab, ^pid, {:heir_data, ^mod}}, 2000
      # the transfer message comes before the DOWN of the old owner
      assert_receive {:DOWN, ^ref, _, _, _}
      assert mod.info(t, :owner) == self()
      assert mod.info(t, :heir) == self()
      assert mod.lookup(t, :k) == [{:k, 1}]
      assert mod.insert(t, {:mine, 1})
      mod.delete(t)
    end
  end

  test "heir that died before the owner: the table is deleted" do
    for mod <- [:ets, Tsunami] do
      live_heir =
        spawn(fn ->
          receive do
            :die -> :ok
          end
        end)

      {pid, t} = spawn_owner(mod, [{:heir, live_heir, :x}], :heir_dead)
      assert mod.info(t, :heir) == live_heir
      # only the owner may set options
      assert_raise ArgumentError, fn -> mod.setopts(t, {:heir, self(), :d}) end
      hr = Process.monitor(live_heir)
      send(live_heir, :die)
      assert_receive {:DOWN, ^hr, _, _, _}
      stop(pid)
      assert TestSupport.wait_until(fn -> mod.info(t) == :undefined end), "#{mod}"
    end
  end

  test "give_away hands over the table with a message" do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:give, [:protected])
      mod.insert(t, {:k, 1})
      parent = self()

      receiver =
        spawn(fn ->
          receive do
            {:"ETS-TRANSFER", tab, from, data} ->
              send(parent, {:got, tab, from, data, mod.insert(tab, {:by_receiver, 1})})

              receive do
                :exit -> :ok
              end
          end
        end)

      assert mod.give_away(t, receiver, :gift) == true
      assert_receive {:got, ^t, from, :gift, true}
      assert from == self()
      assert mod.info(t, :owner) == receiver
      # no longer the owner: writes to a protected table are refused
      assert_raise ArgumentError, fn -> mod.insert(t, {:x, 1}) end
      assert_raise ArgumentError, fn -> mod.give_away(t, self(), :back) end
      assert mod.lookup(t, :by_receiver) == [{:by_receiver, 1}]
      stop(receiver)
      assert TestSupport.wait_until(fn -> mod.info(t) == :undefined end)
    end
  end

  test "setopts protection changes access for other processes" do
    p = Oracle.new([:private])
    Oracle.check(p, fn m, t -> m.insert(t, {:k, 1}) end)
    Oracle.check(p, fn m, t -> m.setopts(t, {:protection, :public}) end)

    for {_n, fun} <- Keyword.take(@ops, [:lookup, :insert, :delete_key]) do
      e = Oracle.in_process(fn -> Oracle.run(Oracle.Ets, p.ets, fun) end)
      t = Oracle.in_process(fn -> Oracle.run(Tsunami, p.tsu, fun) end)
      assert Oracle.same?(e, t)
    end

    Oracle.check(p, fn m, t -> m.setopts(t, {:protection, :protected}) end)

    for {_n, fun} <- Keyword.take(@ops, [:lookup, :insert, :setopts]) do
      e = Oracle.in_process(fn -> Oracle.run(Oracle.Ets, p.ets, fun) end)
      t = Oracle.in_process(fn -> Oracle.run(Tsunami, p.tsu, fun) end)
      assert Oracle.same?(e, t), "#{inspect(e)} vs #{inspect(t)}"
    end
  end
end
