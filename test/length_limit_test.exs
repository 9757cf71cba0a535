defmodule Tsunami.LengthLimitTest do
  @moduledoc """
  Lengths the encoding cannot hold. Binaries and external-format terms carry a 32-bit
  length in Tsunami's encoding; a binary of 4 GiB or more is refused with
  `system_limit` (as a key, in an object, in a match-spec constant) rather than stored
  with a truncated length, which would make the reader take the user's bytes for
  encoded terms. (`:ets` stores such a binary; Tsunami documents the limit.)

  Needs about 4.1 GiB of free memory for one binary: tagged `:long`, run with
  `mix test --include long test/length_limit_test.exs`. The check itself is unit-tested
  without the allocation in `tsunami_core::term` (`lengths_from_4_gib_on_are_refused`).
  """
  use ExUnit.Case, async: false

  @tag :long
  @tag timeout: 300_000
  test "a binary of 4 GiB or more is refused with system_limit, and nothing is stored" do
    # 4 GiB + 1 MiB: over the 32-bit length by a margin a truncation would read as 1 MiB.
    big = :binary.copy(:binary.copy(<<7>>, 1_048_576), 4097)
    assert byte_size(big) > 0xFFFF_FFFF

    for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
      t = Tsunami.new(:big, [type])
      Tsunami.insert(t, {:small, 1})

      assert_raise SystemLimitError, fn -> Tsunami.insert(t, {:k, big}) end
      assert_raise SystemLimitError, fn -> Tsunami.insert(t, {big, 1}) end
      assert_raise SystemLimitError, fn -> Tsunami.insert(t, [{:a, 1}, {:b, big}]) end
      assert_raise SystemLimitError, fn -> Tsunami.insert_new(t, {:k, [big]}) end
      assert_raise SystemLimitError, fn -> Tsunami.lookup(t, big) end
      assert_raise SystemLimitError, fn -> Tsunami.member(t, {big}) end

      spec = [{{:"$1", :"$2"}, [{:==, :"$2", {:const, big}}], [:"$1"]}]
      assert_raise SystemLimitError, fn -> Tsunami.select(t, spec) end

      # Nothing of the refused calls was stored.
      assert Tsunami.tab2list(t) == [{:small, 1}]
      Tsunami.delete(t)
    end
  end
end
