defmodule Tsunami.NewerApiTest do
  # OTP 26/27 functions, tested against their documented behaviour (the local :ets is
  # OTP 25 and lacks them).
  use ExUnit.Case, async: true

  for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
    test "lookup_element/4 on #{type}" do
      t = Tsunami.new(:le4, [unquote(type)])
      Tsunami.insert(t, {:k, 1, 2})
      assert Tsunami.lookup_element(t, :nope, 2, :default) == :default
      expected = if unquote(type) in [:set, :ordered_set], do: 1, else: [1]
      assert Tsunami.lookup_element(t, :k, 2, :default) == expected
      assert_raise ArgumentError, fn -> Tsunami.lookup_element(t, :k, 9, :default) end
      assert_raise ArgumentError, fn -> Tsunami.lookup_element(:no_table, :k, 2, :d) end
    end

    test "first/next/last/prev_lookup on #{type}" do
      t = Tsunami.new(:fl, [unquote(type)])
      assert Tsunami.first_lookup(t) == :"$end_of_table"
      assert Tsunami.last_lookup(t) == :"$end_of_table"
      Tsunami.insert(t, [{1, :a}, {2, :b}, {3, :c}])

      walk = fn step, start ->
        Stream.unfold(start, fn
          :"$end_of_table" -> nil
          {k, objs} = x -> {x, step.(k, objs)}
        end)
        |> Enum.to_list()
      end

      forward = walk.(fn k, _ -> Tsunami.next_lookup(t, k) end, Tsunami.first_lookup(t))
      backward = walk.(fn k, _ -> Tsunami.prev_lookup(t, k) end, Tsunami.last_lookup(t))
      assert Enum.sort(forward) == [{1, [{1, :a}]}, {2, [{2, :b}]}, {3, [{3, :c}]}]

      if unquote(type) == :ordered_set do
        assert forward == Enum.reverse(backward)
      end
    end
  end

  test "update_element/4 inserts the default with the key set, then updates it" do
    t = Tsunami.new(:ue4, [{:keypos, 2}])
    assert Tsunami.update_element(t, :k, {3, :new}, {:rec, :ignored, :old})
    assert Tsunami.lookup(t, :k) == [{:rec, :k, :new}]
    assert Tsunami.update_element(t, :k, {3, :newer}, {:rec, :ignored, :old})
    assert Tsunami.lookup(t, :k) == [{:rec, :k, :newer}]
    assert_raise ArgumentError, fn -> Tsunami.update_element(t, :z, {3, :x}, {:short}) end
    assert_raise ArgumentError, fn -> Tsunami.update_element(t, :k, {2, :x}, {:a, :b, :c}) end
  end

  test "update_element/4 with a spec that fails on the default inserts nothing" do
    t = Tsunami.new(:ue4_bad, [])
    assert_raise ArgumentError, fn -> Tsunami.update_element(t, :k, {5, :x}, {:k, :v}) end
    assert_raise ArgumentError, fn -> Tsunami.update_element(t, :k, {1, :x}, {:k, :v}) end
    assert Tsunami.lookup(t, :k) == []

    for type <- [:bag, :duplicate_bag] do
      b = Tsunami.new(:ue4_bag, [type])
      assert_raise ArgumentError, fn -> Tsunami.update_element(b, :k, {2, :x}, {:k, :v}) end
    end
  end

  test "update_element/4 from concurrent callers on a new key: every update lands on one object" do
    t = Tsunami.new(:ue4_race, [:public])

    for round <- 1..200 do
      key = {:k, round}

      1..4
      |> Enum.map(fn i ->
        Task.async(fn -> Tsunami.update_element(t, key, {1 + i, i}, {nil, 0, 0, 0, 0}) end)
      end)
      |> Enum.each(&assert(Task.await(&1)))

      # Every update landed on the one object: none was lost to a second default insert.
      assert [{^key, 1, 2, 3, 4}] = Tsunami.lookup(t, key)
    end
  end
end
