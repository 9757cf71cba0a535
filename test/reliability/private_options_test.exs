defmodule Tsunami.Reliability.PrivateOptionsTest do
  # Issue #14: new/2 with [:private, {:write_concurrency, true | :auto}] must answer info
  # as :ets does (the write_concurrency conformance case's real first failure).
  use ExUnit.Case, async: true

  @concurrency [
    [],
    [{:write_concurrency, true}],
    [{:write_concurrency, false}],
    [{:write_concurrency, :auto}],
    [{:write_concurrency, {:debug_hash_fixed_number_of_locks, 2048}}],
    [{:read_concurrency, true}],
    [{:read_concurrency, true}, {:write_concurrency, true}],
    [{:decentralized_counters, true}],
    [{:decentralized_counters, false}, {:write_concurrency, true}],
    [{:decentralized_counters, true}, {:write_concurrency, :auto}]
  ]

  test "concurrency options of every protection and type answer info as on :ets" do
    for prot <- [:private, :protected, :public],
        type <- [:set, :ordered_set, :bag, :duplicate_bag],
        conc <- @concurrency do
      opts = [type, prot | conc]

      expected =
        try do
          e = :ets.new(:x, opts)
          Enum.sort(:ets.info(e)) |> Keyword.drop([:id, :memory, :owner, :node])
        rescue
          ArgumentError -> :badarg
        end

      got =
        try do
          t = Tsunami.new(:x, opts)
          Enum.sort(Tsunami.info(t)) |> Keyword.drop([:id, :memory, :owner, :node])
        rescue
          ArgumentError -> :badarg
        end

      assert got == expected, "options #{inspect(opts)}"
    end
  end
end
