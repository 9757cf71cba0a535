defmodule Tsunami.Reliability.OwnerDownTest do
  # Issue #14: once the owner's 'DOWN' has arrived, the table is gone (info/1 answers
  # :undefined, all/0 leaves it out) or already belongs to the heir, as on :ets, however
  # the monitors were ordered (ours is created before the table's own here, the order in
  # which the VM's DOWN beats a NIF's monitor callback).
  use ExUnit.Case, async: true

  @rounds 300

  defp owner_dies(mod, opts) do
    parent = self()

    {owner, mref} =
      spawn_monitor(fn ->
        receive do
          :go -> :ok
        end

        t = mod.new(:x, opts)
        mod.insert(t, {1, :one})
        send(parent, {:table, t})
      end)

    send(owner, :go)
    t = receive do: ({:table, t} -> t)
    receive do: ({:DOWN, ^mref, :process, ^owner, :normal} -> :ok)
    {t, owner}
  end

  for mod <- [Tsunami, :ets] do
    test "no heir: after DOWN the table is undefined and not in all/0 (#{inspect(mod)})" do
      mod = unquote(mod)

      for _ <- 1..@rounds do
        {t, _} = owner_dies(mod, [:set, :public])
        assert mod.info(t) == :undefined
        assert mod.info(t, :size) == :undefined
        refute t in mod.all()
      end
    end

    test "no heir: after DOWN the name is free for new/2 at once (#{inspect(mod)})" do
      mod = unquote(mod)

      for _ <- 1..@rounds do
        {_, _} = owner_dies(mod, [:set, :public, :named_table])
        # new/2 is the first call after DOWN: no info/whereis settled the old table.
        assert mod.new(:x, [:set, :named_table]) == :x
        true = mod.delete(:x)
      end
    end

    test "heir: after DOWN the heir owns the table and has its transfer (#{inspect(mod)})" do
      mod = unquote(mod)

      for i <- 1..@rounds do
        {t, owner} = owner_dies(mod, [:set, :public, {:heir, self(), i}])
        assert mod.info(t, :owner) == self()
        assert t in mod.all()
        assert mod.lookup(t, 1) == [{1, :one}]
        assert_receive {:"ETS-TRANSFER", ^t, ^owner, ^i}
        mod.delete(t)
      end
    end
  end
end
