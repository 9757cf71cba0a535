defmodule Tsunami.FixationMemoryTest do
  # async: false: it reads :erlang.memory(:binary), which every other test moves too.
  use ExUnit.Case, async: false
  alias Tsunami.TestSupport

  # Objects holding a reference keep their term in an environment of their own, so a
  # big binary in them shows in :erlang.memory(:binary) until the object is freed.
  test "delete/1 frees a fixed table's contents at once; the fixer's unfix is harmless" do
    for mod <- [:ets, Tsunami] do
      t = mod.new(:del_fixed, [:public])
      base = :erlang.memory(:binary)

      mod.insert(t, for(i <- 1..2000, do: {i, make_ref(), :binary.copy(<<i::32>>, 2500)}))

      # Fixed, with deletions and a clear that must keep places for next/2, and a held
      # continuation.
      mod.safe_fixtable(t, true)
      for i <- 1..500, do: mod.delete(t, i)
      {_, cont} = mod.select(t, [{{:"$1", :_, :_}, [], [:"$1"]}], 1)
      mod.delete_all_objects(t)
      assert :erlang.memory(:binary) - base > 15_000_000, inspect(mod)
      true = mod.delete(t)
      # The inserted list's binaries stay referenced from this process's heap until it
      # collects them (:ets shares them with the table): collect while waiting.
      assert TestSupport.wait_until(fn ->
               :erlang.garbage_collect()
               :erlang.memory(:binary) - base < 2_000_000
             end),
             inspect(mod)

      assert mod.info(t, :fixed) == :undefined
      assert_raise ArgumentError, fn -> mod.safe_fixtable(t, false) end
      assert_raise ArgumentError, fn -> mod.select(cont) end
    end
  end
end
