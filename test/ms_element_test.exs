defmodule Tsunami.MsElementTest do
  @moduledoc """
  `element(N, T)` in match specs with an index beyond a machine word: the guard fails
  and the body gives `'EXIT'`, exactly as `:ets` (the index was truncated to 64 bits:
  `element(2^64 + 1, T)` read element 1).
  """
  use ExUnit.Case, async: true
  alias Tsunami.Oracle

  @indexes [
    1,
    2,
    3,
    0,
    -1,
    2 ** 32 + 1,
    2 ** 63,
    2 ** 64 - 1,
    2 ** 64,
    2 ** 64 + 1,
    2 ** 64 + 2,
    2 ** 65 + 1,
    2 ** 127 + 1,
    2 ** 128 + 1,
    2 ** 200 + 1,
    -(2 ** 64) + 1
  ]

  for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
    @type_ type
    test "#{type}: element/2 with huge indexes, in guards and bodies, as :ets" do
      p = Oracle.new([@type_])

      try do
        Oracle.check(p, fn m, t -> m.insert(t, [{:a, :b}, {:c, :d, :e}]) end)

        for n <- @indexes do
          body = [{:_, [], [{:element, n, :"$_"}]}]
          guard = [{:_, [{:==, {:element, n, :"$_"}, :a}], [:"$_"]}]
          guard_bool = [{:_, [{:element, n, {{true, true}}}], [true]}]

          for spec <- [body, guard, guard_bool] do
            label = "#{@type_} #{inspect(spec)}"
            Oracle.check_sorted(p, fn m, t -> m.select(t, spec) end, label: label)
            Oracle.check(p, fn m, t -> m.select_count(t, spec) end, label: label)
          end

          # Bound key: the lookup path runs the same program.
          spec = [{{:a, :_}, [], [{:element, n, :"$_"}]}]
          Oracle.check(p, fn m, t -> m.select(t, spec) end, label: "#{@type_} key #{n}")
        end
      after
        Oracle.delete(p)
      end
    end
  end
end
