defmodule Tsunami.NegZeroMatchTest do
  @moduledoc """
  `-0.0` and `0.0` in match patterns, side by side with `:ets` (OTP 25, where
  `-0.0 =:= 0.0`): a float literal in a head pattern matches only a float with the same
  bits (ETS compares the words), while key lookups, map-key lookups in map patterns,
  repeated variables and guards (`==`, `=:=`) treat the two zeros as equal. Every
  function of the match/select family, every table type, zeros in keys and elsewhere.

  The zeros are built at run time: literal `-0.0` and `0.0` may share one literal on
  OTP < 27.
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @types [:set, :ordered_set, :bag, :duplicate_bag]

  defp neg, do: :erlang.binary_to_term(<<131, 70, 128, 0, 0, 0, 0, 0, 0, 0>>)
  defp pos, do: :erlang.binary_to_term(<<131, 70, 0::64>>)

  defp objects do
    {n, p} = {neg(), pos()}

    [
      {p, :a, 1},
      {n, :b, 2},
      {:x, p, n},
      {:x, n, p},
      {:x, p, p},
      {:x, n, n},
      {{p}, :t, 3},
      {{n}, :t, 4},
      {[n], :l, 5},
      {[p], :l, 6},
      {:m, %{k: n}, %{n => 1}},
      {:m, %{k: p}, %{p => 2}},
      {:y, [1 | n], {:z, [n]}}
    ]
  end

  defp patterns do
    {n, p} = {neg(), pos()}

    [
      {n, :_, :_},
      {p, :_, :_},
      {n, :b, 2},
      {p, :a, 1},
      {:x, n, :_},
      {:x, :_, n},
      {:x, p, p},
      {:x, n, n},
      {{n}, :_, :_},
      {{p}, :_, :_},
      {[n], :_, :_},
      {:m, %{k: n}, :_},
      {:m, %{k: p}, :_},
      {:m, :_, %{n => :_}},
      {:y, [1 | n], :_},
      {:y, :_, {:z, [n]}},
      {:y, :_, {:z, [p]}},
      {:x, :"$1", :"$1"},
      {:"$1", :_, :_}
    ]
  end

  # {Head, Guards} pairs beyond the plain patterns: guards compare with `==` / `=:=`.
  defp guarded do
    {n, p} = {neg(), pos()}

    [
      {{:"$1", :_, :_}, [{:==, :"$1", p}]},
      {{:"$1", :_, :_}, [{:"=:=", :"$1", n}]},
      {{:"$1", :_, :_}, [{:"=:=", :"$1", {:const, {n}}}]},
      {{:"$1", :_, :_}, [{:"=/=", :"$1", {:const, [p]}}]},
      {{:x, :"$1", :"$2"}, [{:"=:=", :"$1", :"$2"}]},
      {{:x, :"$1", :"$2"}, [{:"=/=", :"$1", :"$2"}]},
      {{:x, :"$1", :"$2"}, [{:<, :"$1", :"$2"}]},
      {{:m, :"$1", :_}, [{:"=:=", {:map_get, :k, :"$1"}, n}]},
      {{:m, :_, :"$1"}, [{:is_map_key, p, :"$1"}]}
    ]
  end

  defp specs(body) do
    for(pat <- patterns(), do: [{pat, [], body}]) ++
      for {head, guards} <- guarded(), do: [{head, guards, body}]
  end

  defp with_tables(type, fun) do
    p = Oracle.new([type])

    try do
      for o <- objects(), do: Oracle.check(p, fn m, t -> m.insert(t, o) end)
      Oracle.check_contents(p, "#{type} after inserts")
      fun.(p)
    after
      Oracle.delete(p)
    end
  end

  for type <- @types do
    @type_ type
    test "#{type}: lookups treat the zeros as one key, as :ets" do
      with_tables(@type_, fn p ->
        for k <- [neg(), pos(), {neg()}, {pos()}, [neg()], [pos()]] do
          Oracle.check(p, fn m, t -> m.lookup(t, k) end)
          Oracle.check(p, fn m, t -> m.member(t, k) end)
        end
      end)
    end

    test "#{type}: match, match_object, select, select_count match float literals by bits" do
      with_tables(@type_, fn p ->
        for pat <- patterns() do
          label = "#{@type_} #{inspect(pat)}"
          Oracle.check_sorted(p, fn m, t -> m.match_object(t, pat) end, label: label)
          Oracle.check_sorted(p, fn m, t -> m.match(t, pat) end, label: label)
        end

        for spec <- specs([:"$_"]) do
          label = "#{@type_} #{inspect(spec)}"
          Oracle.check_sorted(p, fn m, t -> m.select(t, spec) end, label: label)
        end

        for spec <- specs([true]) do
          label = "#{@type_} #{inspect(spec)}"
          Oracle.check(p, fn m, t -> m.select_count(t, spec) end, label: label)
        end

        # Bodies: `=:=` on the zeros, and zeros built into results.
        n = neg()
        spec = [{{:x, :"$1", :"$2"}, [], [{{:"$1", :"$2", {:"=:=", :"$1", :"$2"}, n}}]}]
        Oracle.check_sorted(p, fn m, t -> m.select(t, spec) end)
      end)
    end

    test "#{type}: match_delete and select_delete remove exactly what matches" do
      for pat <- patterns() do
        with_tables(@type_, fn p ->
          label = "#{@type_} match_delete #{inspect(pat)}"
          Oracle.check(p, fn m, t -> m.match_delete(t, pat) end, label: label)
          Oracle.check_contents(p, label)
        end)
      end

      for spec <- specs([true]) do
        with_tables(@type_, fn p ->
          label = "#{@type_} select_delete #{inspect(spec)}"
          Oracle.check(p, fn m, t -> m.select_delete(t, spec) end, label: label)
          Oracle.check_contents(p, label)
        end)
      end
    end

    test "#{type}: ground map patterns match maps with more keys, as :ets" do
      p = Oracle.new([@type_])

      try do
        objs = [{1, %{a: 1, b: 2}}, {2, %{}}, {3, [%{a: 1, b: 2}]}, {4, %{a: 2}}, {5, :no}]
        Oracle.check(p, fn m, t -> m.insert(t, objs) end)

        for pat <- [{:_, %{}}, {:_, %{a: 1}}, {:_, [%{a: 1}]}, {:_, [%{}]}, {3, [%{b: 2}]}] do
          label = "#{@type_} #{inspect(pat)}"
          Oracle.check_sorted(p, fn m, t -> m.match_object(t, pat) end, label: label)
          Oracle.check(p, fn m, t -> m.select_count(t, [{pat, [], [true]}]) end, label: label)
        end
      after
        Oracle.delete(p)
      end
    end

    if type != :bag do
      test "#{type}: select_replace replaces exactly what matches" do
        {n, p} = {neg(), pos()}

        specs = [
          [{{:"$1", :"$2", :"$3"}, [{:"=:=", :"$1", n}], [{{:"$1", :"$2", :r}}]}],
          [{{n, :"$2", :"$3"}, [], [{{n, :"$2", :r}}]}],
          [{{p, :"$2", :"$3"}, [], [{{p, :"$2", :r}}]}],
          [{{:x, n, :"$3"}, [], [{{:x, n, :r}}]}],
          [{{:x, :"$2", :"$3"}, [{:==, :"$2", p}], [{{:x, :"$2", :r}}]}],
          [{{:x, :"$2", :"$3"}, [], [{{:x, :"$3", :"$2"}}]}],
          [{{{n}, :"$2", :"$3"}, [], [:"$_"]}]
        ]

        for spec <- specs do
          with_tables(@type_, fn pair ->
            label = "#{@type_} select_replace #{inspect(spec)}"
            Oracle.check(pair, fn m, t -> m.select_replace(t, spec) end, label: label)
            Oracle.check_contents(pair, label)
          end)
        end
      end
    end
  end
end
