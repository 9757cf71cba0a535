# Issue #14 item 3: a held select/3 continuation must not freeze the table.
# 2,000 objects, select/3 with limit 1 (continuation held), 1M more inserts, then
# 200,000 lookups of random keys; for Tsunami and :ets.
#   MIX_ENV=bench mix run scripts/held_continuation.exs
defmodule HeldCont do
  def run(mod) do
    t = mod.new(:held, [:set, :public])
    mod.insert(t, for(i <- 1..2000, do: {i, i}))
    {_, c} = mod.select(t, [{{:"$1", :_}, [], [:"$1"]}], 1)
    fixed = mod.info(t, :fixed)
    for i <- 2001..1_002_000, do: mod.insert(t, {i, i})
    keys = for _ <- 1..200_000, do: :rand.uniform(1_002_000)
    {us, _} = :timer.tc(fn -> Enum.each(keys, &mod.lookup(t, &1)) end)
    buckets = elem(mod.info(t, :stats), 0)
    rest = count(mod, c, 0)
    IO.puts("#{inspect(mod)}: fixed=#{fixed} lookups=#{div(us, 1000)} ms buckets=#{buckets} continuation_rest=#{rest}")
    mod.delete(t)
  end

  defp count(_mod, :"$end_of_table", n), do: n
  defp count(mod, c, n) do
    case mod.select(c) do
      :"$end_of_table" -> n
      {items, c} -> count(mod, c, n + length(items))
    end
  end
end

for _ <- 1..3, mod <- [:ets, Tsunami], do: HeldCont.run(mod)
