defmodule Tsunami.WalkConcurrencyTest do
  # Traversals while writers run, on 20,000 keys. Keys split in three sets: `stable`
  # (two thirds of the initial keys: present from start to end, never touched), `churn`
  # (the other third: deleted and inserted again over and over) and `fresh` (keys above
  # the initial ones, inserted and deleted during the walks only). The guarantees checked
  # are those of :ets (ETS_SEMANTICS.md 3.10/3.11): a safe_fixtable first/next walker
  # sees every stable key exactly once; a select/3 continuation (no fixation, as with
  # :ets) sees every stable key, and never a key that was never inserted. Tsunami's
  # continuations in fact see each stable key exactly once, which is checked too.
  use ExUnit.Case, async: true

  @n 20_000

  defp churn?(k), do: rem(k, 3) == 1
  defp stable?(k), do: not churn?(k)

  defp writer(t, parent, seed) do
    :rand.seed(:exsss, {seed, seed, seed})
    writer_loop(t, parent, 0)
  end

  defp writer_loop(t, parent, i) do
    receive do
      :stop -> send(parent, {:writer_done, self(), i})
    after
      0 ->
        k = :rand.uniform(@n) - 1

        cond do
          churn?(k) and rem(i, 2) == 0 -> Tsunami.delete(t, k)
          churn?(k) -> Tsunami.insert(t, {k, i})
          true -> Tsunami.insert(t, {@n + :rand.uniform(10 * @n), i})
        end

        # Fresh keys come and go too, so shards split and merge under the walkers.
        if rem(i, 3) == 0, do: Tsunami.delete(t, @n + :rand.uniform(10 * @n))
        writer_loop(t, parent, i + 1)
    end
  end

  defp fixed_walk(t) do
    Tsunami.safe_fixtable(t, true)
    keys = walk_next(t, Tsunami.first(t), [])
    Tsunami.safe_fixtable(t, false)
    keys
  end

  defp walk_next(_t, :"$end_of_table", acc), do: acc
  defp walk_next(t, k, acc), do: walk_next(t, Tsunami.next(t, k), [k | acc])

  defp select_walk(t, limit) do
    case Tsunami.select(t, [{{:"$1", :_}, [], [:"$1"]}], limit) do
      :"$end_of_table" -> []
      {keys, cont} -> drain(cont, [keys])
    end
  end

  defp drain(cont, acc) do
    # Give the writers time between chunks, as a consumer of a continuation would.
    Process.sleep(0)

    case Tsunami.select(cont) do
      :"$end_of_table" -> Enum.concat(acc)
      {keys, cont} -> drain(cont, [keys | acc])
    end
  end

  @tag timeout: 120_000
  for type <- [:set, :bag, :duplicate_bag] do
    test "#{type}: walkers under concurrent writers see every stable key" do
      t = Tsunami.new(:walk_conc, [unquote(type), :public])
      Tsunami.insert(t, for(k <- 0..(@n - 1), do: {k, 0}))
      parent = self()
      writers = for s <- 1..2, do: spawn_link(fn -> writer(t, parent, s) end)
      stable = for k <- 0..(@n - 1), stable?(k), do: k

      walks =
        [
          Task.async(fn -> {:fixed, fixed_walk(t)} end),
          Task.async(fn -> {:fixed, fixed_walk(t)} end),
          Task.async(fn -> {:select, select_walk(t, 1)} end),
          Task.async(fn -> {:select, select_walk(t, 100)} end),
          Task.async(fn -> {:select, select_walk(t, 2500)} end)
        ]
        |> Task.await_many(120_000)

      for w <- writers, do: send(w, :stop)
      writes = for w <- writers, do: assert_receive({:writer_done, ^w, n}, 5000) && n
      assert Enum.sum(writes) > 1000, "the writers ran"

      for {kind, keys} <- walks do
        counts = Enum.frequencies(keys)
        # Each object is one key here except for bag types, whose churn keys may have
        # several objects; stable keys keep their single object.
        for k <- stable do
          assert Map.get(counts, k) == 1, "#{kind}: stable key #{k} seen #{inspect(counts[k])}"
        end

        for {k, _} <- counts do
          assert is_integer(k) and k >= 0 and k <= 11 * @n,
                 "#{kind}: key #{inspect(k)} was never inserted"
        end

        if kind == :fixed do
          # A fixed walk visits each key (not object) once, the deleted ones included.
          assert Enum.all?(counts, fn {_, c} -> c == 1 end), "fixed walk repeated a key"
        end
      end

      assert Tsunami.info(t, :fixed) == false
      assert elem(Tsunami.info(t, :stats), 6) == 0
      Tsunami.delete(t)
    end
  end
end
