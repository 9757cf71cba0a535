defmodule Tsunami.Reliability.ManyNamedTablesTest do
  # Issue #14 item 5: the name registry copied its whole map on every new/delete/rename,
  # so N named tables cost O(N²) (and one `new` held a scheduler for the whole copy).
  use ExUnit.Case, async: true

  @n 30_000

  test "#{@n} named tables: created, found by name, renamed, deleted, like :ets" do
    names = for i <- 1..@n, do: :"tsunami_many_#{i}"

    for mod <- [Tsunami, :ets] do
      for n <- names, do: ^n = mod.new(n, [:named_table, :public])
      for n <- names, do: assert(mod.insert(n, {n}))
      assert Enum.all?(names, &(mod.lookup(&1, &1) == [{&1}]))
      # The registry keeps the newest names and the oldest apart.
      assert mod.info(hd(names), :name) == hd(names)
      renamed = for n <- Enum.take(names, 1000), do: mod.rename(n, :"#{n}_r")
      assert Enum.all?(renamed, &(mod.whereis(&1) != :undefined))
      assert Enum.all?(Enum.take(names, 1000), &(mod.whereis(&1) == :undefined))
      for n <- renamed ++ Enum.drop(names, 1000), do: true = mod.delete(n)
      assert Enum.all?(names, &(mod.whereis(&1) == :undefined))
    end
  end
end
