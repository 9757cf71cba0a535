defmodule Tsunami.Reliability.RenameRaceTest do
  # Issue #14 item 8: rename/2 racing delete/1 of the same table. The name used to be
  # read outside the registry lock, so a delete could drop the old name after the rename
  # had moved the table: the new name then stayed taken by a deleted table for ever.
  use ExUnit.Case, async: true
  alias Tsunami.TestSupport

  @rounds 2_000

  defp race(mod, i) do
    a = :"tsunami_rr_a_#{i}"
    b = :"tsunami_rr_b_#{i}"
    ^a = mod.new(a, [:named_table, :public])
    # Delete by id, which stays valid across the rename.
    t = mod.whereis(a)
    parent = self()
    go = make_ref()

    pids =
      for f <- [
            fn -> flip(mod, a, b, 0) end,
            fn -> TestSupport.spin(rem(i * 37, 400)) && mod.delete(t) end
          ] do
        spawn(fn ->
          receive do
            ^go -> :ok
          end

          send(parent, {self(), f.()})
        end)
      end

    Enum.each(pids, &send(&1, go))
    [renamed, deleted] = Enum.map(pids, fn p -> receive do: ({^p, r} -> r) end)
    assert deleted == true
    # The renamer flips the name back and forth until the delete stops it.
    assert is_integer(renamed)
    # The table is gone under both names, and both names are free again.
    assert mod.whereis(a) == :undefined
    assert mod.whereis(b) == :undefined
    for n <- [a, b], do: mod.delete(mod.new(n, [:named_table]))
    renamed
  end

  # Renames `a` to `b` and back until the table is gone; returns how many succeeded.
  defp flip(mod, a, b, n) do
    mod.rename(a, b)
    flip(mod, b, a, n + 1)
  rescue
    ArgumentError -> n
  end

  for mod <- [Tsunami, :ets] do
    test "rename racing delete leaves no name behind (#{inspect(mod)})" do
      renames = for i <- 1..@rounds, do: race(unquote(mod), i)
      # The race was real: most rounds renamed at least once before the delete landed.
      assert Enum.count(renames, &(&1 > 0)) > @rounds / 2
    end
  end

  test "renaming a named table to a name another process is taking: exactly one wins" do
    for i <- 1..500 do
      a = :"tsunami_rr_c_#{i}"
      b = :"tsunami_rr_d_#{i}"
      _ = Tsunami.new(a, [:named_table, :public])
      parent = self()

      other =
        spawn(fn ->
          r =
            try do
              Tsunami.new(b, [:named_table, :public])
            rescue
              ArgumentError -> :badarg
            end

          send(parent, {:new, r})
          receive do: (:done -> :ok)
        end)

      r =
        try do
          Tsunami.rename(a, b)
        rescue
          ArgumentError -> :badarg
        end

      new_r = receive do: ({:new, x} -> x)
      # Exactly one of them holds the name now.
      assert Enum.count([r, new_r], &(&1 == b)) == 1
      assert Tsunami.whereis(b) != :undefined
      send(other, :done)
      if r == b, do: Tsunami.delete(b), else: Tsunami.delete(a)
    end
  end
end
