# Tsunami demo: tables of each available type, the main API, and a short side-by-side
# throughput comparison with :ets. Run with `scripts/demo.sh` (or `mix run demo/demo.exs`).

defmodule Demo.Loop do
  @moduledoc false
  # Compiled loops (a script's top-level closures would be interpreted).

  def run(mod, tab, :insert, keys),
    do: for(k <- keys, do: mod.insert(tab, {k, "value-#{k}", [k, 2 * k]}))

  def run(mod, tab, :lookup, keys), do: for(k <- keys, do: mod.lookup(tab, k))

  def run(mod, tab, :update_counter, keys),
    do: for(k <- keys, do: mod.update_counter(tab, k, 1, {k, 0}))

  def ops_per_sec(mod, opts, op, keys) do
    tab = mod.new(:demo_bench, opts)
    if op == :lookup, do: run(mod, tab, :insert, keys)
    if op == :update_counter, do: for(k <- keys, do: mod.insert(tab, {k, 0}))
    {us, _} = :timer.tc(fn -> run(mod, tab, op, keys) end)
    mod.delete(tab)
    length(keys) / (us / 1_000_000)
  end
end

IO.puts("Tsunami demo — OTP #{System.otp_release()}, Elixir #{System.version()}\n")

for type <- [:set, :bag, :duplicate_bag] do
  t = Tsunami.new(:demo, [type, :public])
  Tsunami.insert(t, [{:fruit, :apple}, {:fruit, :pear}, {:fruit, :apple}, {:veg, :leek}])

  IO.puts(
    "#{String.pad_trailing(inspect(type), 15)} lookup(:fruit) = #{inspect(Tsunami.lookup(t, :fruit))}"
  )

  Tsunami.delete(t)
end

t = Tsunami.new(:users, [:named_table, :public, {:keypos, 2}])
Tsunami.insert(t, [{:user, 1, "ann", 0}, {:user, 2, "bob", 0}])
IO.puts("\nnamed table #{inspect(t)}, keypos 2:")
IO.puts("  lookup(:users, 2)            = #{inspect(Tsunami.lookup(:users, 2))}")
IO.puts("  update_counter(:users, 1, {4, 5}) = #{Tsunami.update_counter(:users, 1, {4, 5})}")

IO.puts(
  "  update_element(:users, 2, {3, \"bobby\"}) = #{Tsunami.update_element(:users, 2, {3, "bobby"})}"
)

IO.puts("  take(:users, 2)              = #{inspect(Tsunami.take(:users, 2))}")

IO.puts(
  "  insert_new(:users, {:user, 1, \"x\", 0}) = #{Tsunami.insert_new(:users, {:user, 1, "x", 0})}"
)

IO.puts("  info(:users, :size)          = #{Tsunami.info(:users, :size)}")

private = Tsunami.new(:secret, [:private])
me = self()

spawn(fn ->
  try do
    Tsunami.lookup(private, :k)
  rescue
    e in ArgumentError -> send(me, {:denied, Exception.message(e)})
  end
end)

receive do
  {:denied, msg} ->
    IO.puts("\nprivate table read from another process:\n  #{String.trim(msg)}")
end

try do
  Tsunami.lookup_element(:users, :nobody, 2)
rescue
  e in ArgumentError ->
    IO.puts("\nlookup_element of a missing key:\n  #{Exception.message(e) |> String.trim()}")
end

n = 200_000
keys = Enum.shuffle(1..n)
IO.puts("\nthroughput, one process, #{n} keys (ops/s; ratio = Tsunami / :ets):")

IO.puts(
  String.pad_trailing("op", 16) <>
    String.pad_leading("Tsunami", 14) <>
    String.pad_leading(":ets", 14) <> String.pad_leading("ratio", 8)
)

for op <- [:insert, :lookup, :update_counter] do
  opts = [:set, :public]
  # warm-up, then measure both
  Demo.Loop.ops_per_sec(Tsunami, opts, op, Enum.take(keys, 10_000))
  Demo.Loop.ops_per_sec(:ets, opts, op, Enum.take(keys, 10_000))
  ts = Demo.Loop.ops_per_sec(Tsunami, opts, op, keys)
  es = Demo.Loop.ops_per_sec(:ets, opts, op, keys)

  IO.puts(
    String.pad_trailing(to_string(op), 16) <>
      String.pad_leading(to_string(round(ts)), 14) <>
      String.pad_leading(to_string(round(es)), 14) <>
      String.pad_leading(:erlang.float_to_binary(ts / es, decimals: 2), 8)
  )
end

IO.puts("\nFull benchmarks: MIX_ENV=bench mix run bench/run.exs")
