defmodule Tsunami.OwnerRaceTest do
  # The owner dies while other processes are busy on its table: with a heir the table
  # moves over intact, without one it is deleted exactly once; no operation crashes or
  # sees anything but a result or ArgumentError. Each scenario runs on :ets and Tsunami.
  use ExUnit.Case, async: true

  @rounds 40
  @workers 4

  defp worker(mod, tab, parent) do
    spawn_link(fn -> loop(mod, tab, parent, 0, %{ok: 0, badarg: 0, ok_after_badarg: 0}) end)
  end

  defp loop(mod, tab, parent, i, acc) do
    receive do
      :stop -> send(parent, {:worker_done, self(), acc})
    after
      0 ->
        k = rem(i, 200)

        result =
          try do
            case rem(i, 6) do
              0 -> mod.insert(tab, {k, i})
              1 -> mod.lookup(tab, k)
              2 -> mod.delete(tab, k)
              3 -> mod.select_count(tab, [{{:_, :_}, [], [true]}])
              4 -> mod.update_counter(tab, k, 1, {k, 0})
              # info answers :undefined for a table that is gone: count it as badarg.
              5 -> mod.info(tab, :size) != :undefined || raise ArgumentError
            end

            :ok
          rescue
            ArgumentError -> :badarg
          end

        # A result after a badarg would mean the table came back from the dead.
        acc =
          if result == :ok and acc.badarg > 0,
            do: Map.update!(acc, :ok_after_badarg, &(&1 + 1)),
            else: acc

        loop(mod, tab, parent, i + 1, Map.update!(acc, result, &(&1 + 1)))
    end
  end

  defp round(mod, name, heir?) do
    parent = self()
    heir_opt = if heir?, do: [{:heir, parent, :inherit}], else: []

    owner =
      spawn(fn ->
        t = mod.new(name, [:public, :named_table | heir_opt])
        mod.insert(t, for(i <- 1..200, do: {i, 0}))
        send(parent, :created)
        Process.sleep(:infinity)
      end)

    assert_receive :created
    workers = for _ <- 1..@workers, do: worker(mod, name, parent)
    Process.sleep(2)
    Process.exit(owner, :kill)
    Process.sleep(2)
    for w <- workers, do: send(w, :stop)
    stats = for w <- workers, do: receive(do: ({:worker_done, ^w, acc} -> acc))

    if heir? do
      assert_receive {:"ETS-TRANSFER", ^name, ^owner, :inherit}, 5000
      assert mod.info(name, :owner) == self()
      # Every key is still a consistent object, and the heir deletes it exactly once.
      assert Enum.all?(
               mod.tab2list(name),
               &match?({k, v} when is_integer(k) and is_integer(v), &1)
             )

      assert mod.delete(name)
      assert_raise ArgumentError, fn -> mod.delete(name) end
    else
      wait = fn f, n ->
        if mod.info(name) != :undefined and n > 0,
          do:
            (
              Process.sleep(1)
              f.(f, n - 1)
            )
      end

      wait.(wait, 5000)
      assert mod.info(name) == :undefined
      assert mod.whereis(name) == :undefined
      assert_raise ArgumentError, fn -> mod.lookup(name, 1) end
      # The name is free again.
      t = mod.new(name, [:named_table])
      assert mod.delete(t)
    end

    # Workers saw results before the death and badarg after it (never anything else).
    Enum.reduce(
      stats,
      %{ok: 0, badarg: 0, ok_after_badarg: 0},
      &Map.merge(&1, &2, fn _, a, b -> a + b end)
    )
  end

  for heir? <- [true, false] do
    test "owner killed under load, #{if heir?, do: "with", else: "without"} a heir" do
      for mod <- [:ets, Tsunami], r <- 1..@rounds do
        totals = round(mod, :"owner_race_#{unquote(heir?)}_#{r}", unquote(heir?))
        where = "#{inspect(mod)} round #{r}: #{inspect(totals)}"
        # Results before the death; then badarg for good without a heir, and never a
        # badarg with one (the table moves over, it is never missing).
        assert totals.ok > 0, where
        assert totals.ok_after_badarg == 0, where
        if unquote(heir?), do: assert(totals.badarg == 0, where)
      end
    end
  end

  test "an insert_new racing delete/1 happens before it or raises badarg, never on an emptied table" do
    parent = self()

    for _ <- 1..500 do
      t = Tsunami.new(:race_delete, [:public])

      spawn(fn ->
        results =
          for i <- 1..50 do
            try do
              {i, Tsunami.insert_new(t, for(z <- 1..2000, do: {z, z}))}
            rescue
              ArgumentError -> {i, :badarg}
            end
          end

        send(parent, {:results, results})
      end)

      Process.sleep(1)
      Tsunami.delete(t)

      assert_receive {:results, results}, 10_000
      # true first (the keys were new), then false while the table lives, then badarg.
      outcomes = results |> Enum.map(&elem(&1, 1)) |> Enum.dedup()

      assert outcomes in [[true, false, :badarg], [true, :badarg], [:badarg], [true, false]],
             inspect(outcomes)
    end
  end
end
