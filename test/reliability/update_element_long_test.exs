defmodule Tsunami.Reliability.UpdateElementLongTest do
  # Issue #14 item 5 (found by the scheduler monitor): update_element/3 with 10^5 ops held
  # a normal scheduler for 22-97 ms. Long element lists now run on a dirty scheduler, in
  # one atomic step; results must still be :ets's.
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  for type <- [:set, :ordered_set] do
    test "long element lists on #{type} (dirty path) give :ets's results" do
      o = Oracle.new([unquote(type), :public])
      n = 5_000
      obj = List.to_tuple([:k | Enum.to_list(2..n)])
      Oracle.check(o, & &1.insert(&2, obj))

      ops = for i <- 1..10_000, do: {rem(i * 7919, n - 1) + 2, {i, make_ref()}}
      Oracle.check(o, & &1.update_element(&2, :k, ops))
      # The refs written by the dirty path compare equal to :ets's copies only by value:
      # compare the non-ref part of every element, and that every ref is a reference.
      [t_obj] = Tsunami.lookup(o.tsu, :k)
      [e_obj] = :ets.lookup(o.ets, :k)
      strip = fn tuple -> for {i, r} <- tl(Tuple.to_list(tuple)), do: {i, is_reference(r)} end
      assert strip.(t_obj) == strip.(e_obj)

      # A bad op at the end: badarg, and the object is left as it was.
      bad = Enum.map(1..3000, &{rem(&1, n - 1) + 2, &1}) ++ [{n + 1, :out_of_range}]
      Oracle.check(o, & &1.update_element(&2, :k, bad))
      assert Tsunami.lookup(o.tsu, :k) == [t_obj]

      # Missing key: false, whatever the list.
      Oracle.check(o, & &1.update_element(&2, :missing, bad))
      Oracle.delete(o)
    end
  end
end
