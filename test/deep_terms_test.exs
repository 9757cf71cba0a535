defmodule Tsunami.DeepTermsTest do
  @moduledoc """
  Keys nested 200,000 deep in an `ordered_set`, next to `:ets`: term order over such keys
  is one linear pass (it used to step over every element at every level, quadratic: 686 ms
  for two 20,000-deep keys, minutes at 200,000, on a normal scheduler under a write lock).
  Results must equal `:ets`'s, for the key operations, traversal and match-spec guards
  comparing deep terms.
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @depth 200_000
  # Match-spec checks run many calls over several deep objects: shallower, still far
  # beyond where the quadratic walk hurt (686 ms at 20,000 levels).
  @ms_depth 50_000

  defp nest(leaf, shape, depth \\ @depth)
  defp nest(leaf, :tuple, depth), do: Enum.reduce(1..depth, leaf, fn _, acc -> {acc} end)
  defp nest(leaf, :list, depth), do: Enum.reduce(1..depth, leaf, fn _, acc -> [acc] end)

  for shape <- [:tuple, :list] do
    @shape shape
    test "ordered_set keys #{@depth} deep (#{shape}s) behave as in :ets" do
      [d0, d1, d1f, d2] = for leaf <- [0, 1, 1.0, 2], do: nest(leaf, @shape)
      # One level shallower: its leaf meets a container in the others (number < container).
      shallow = Enum.reduce(1..(@depth - 1), 5, fn _, acc -> wrap(acc, @shape) end)
      p = Oracle.new([:ordered_set])

      try do
        # Inserted in mixed order; d1f == d1, so it replaces d1's object (key kept as 1.0).
        for k <- [d1, d0, d2, shallow, d1f] do
          Oracle.check(p, fn m, t -> m.insert(t, {k, :erlang.phash2(k)}) end)
        end

        Oracle.check(p, fn m, t -> m.info(t, :size) end)
        Oracle.check(p, fn m, t -> m.first(t) end)
        Oracle.check(p, fn m, t -> m.last(t) end)

        for k <- [d0, d1, d1f, d2, shallow] do
          Oracle.check(p, fn m, t -> m.lookup(t, k) end)
          Oracle.check(p, fn m, t -> m.next(t, k) end)
          Oracle.check(p, fn m, t -> m.prev(t, k) end)
          Oracle.check(p, fn m, t -> m.member(t, k) end)
        end

        Oracle.check(p, fn m, t -> m.tab2list(t) end)
        Oracle.check(p, fn m, t -> m.insert_new(t, {d1, :again}) end)
        Oracle.check(p, fn m, t -> m.take(t, d0) end)
        Oracle.check(p, fn m, t -> m.tab2list(t) end)
      after
        Oracle.delete(p)
      end
    end

    test "match-spec comparisons of #{@ms_depth}-deep #{shape}s agree with :ets" do
      [d0, d1, d1f] = for leaf <- [0, 1, 1.0], do: nest(leaf, @shape, @ms_depth)

      for type <- [:set, :ordered_set] do
        p = Oracle.new([type])

        try do
          # {Id, A, B}: compare A and B in guards (the engine's own comparison).
          objs = [{:lt, d0, d1}, {:gt, d1, d0}, {:eq, d1, d1f}, {:same, d1, d1}]
          Oracle.check(p, fn m, t -> m.insert(t, objs) end)

          for op <- [:<, :>, :==, :"=:=", :"/=", :"=/=", :"=<", :>=] do
            spec = [{{:"$1", :"$2", :"$3"}, [{op, :"$2", :"$3"}], [:"$1"]}]
            Oracle.check_sorted(p, fn m, t -> m.select(t, spec) end, label: "#{type} #{op}")
            Oracle.check(p, fn m, t -> m.select_count(t, spec) end, label: "#{type} #{op}")
          end

          # A deep constant in the guard.
          for op <- [:<, :==, :"=:="] do
            spec = [{{:"$1", :"$2", :_}, [{op, :"$2", {:const, d1}}], [:"$1"]}]
            Oracle.check_sorted(p, fn m, t -> m.select(t, spec) end, label: "#{type} const #{op}")
          end

          # Heads matching a deep literal (exactly: 1.0 is not 1).
          Oracle.check_sorted(p, fn m, t -> m.match_object(t, {:_, d1, :_}) end)
          Oracle.check_sorted(p, fn m, t -> m.match_object(t, {:_, :_, d1f}) end)
        after
          Oracle.delete(p)
        end
      end
    end
  end

  defp wrap(x, :tuple), do: {x}
  defp wrap(x, :list), do: [x]
end
