defmodule TsunamiBench.Loops do
  @moduledoc false
  # The measured inner loops, compiled (not interpreted from a script).
  #
  # Every loop exists twice, generated from one template: once calling `:ets` and once
  # calling `Tsunami`, as static remote calls, so neither side pays for a dynamic
  # `mod.fun(...)` dispatch. A loop touches only data prepared beforehand:
  #
  #   * `stream` — a tuple of pre-drawn random keys (`:rand`, fixed seed); op `i` uses
  #     element `band(i, mask) + 1`, so no key is generated and no list is walked while
  #     timing.
  #   * `objs` — a tuple whose element `k` is the object for key `k`,
  #     `{k, "value-k", [k, 2k]}`, built before timing, so inserts copy an existing term
  #     and never build one.
  #
  # The clock (`:erlang.monotonic_time/0`) is read once per batch of @batch ops.

  import Bitwise

  @batch 256
  # Keys visited by one os_walk op (a batch of @batch ops runs @batch / @walk walks).
  @walk 100

  @backends [ets: :ets, tsunami: Tsunami]

  @doc "Runs `workload` until `deadline` (native monotonic units). Returns `{ops, t0, t1}`."
  def run_timed(backend, workload, tab, stream, objs, mask, i0, deadline) do
    t0 = :erlang.monotonic_time()
    i = drive(backend, workload, tab, stream, objs, mask, i0, deadline)
    t1 = :erlang.monotonic_time()
    {i - i0, t0, t1}
  end

  defp drive(b, w, tab, stream, objs, mask, i, deadline) do
    i = batch(b, w, tab, stream, objs, mask, i, @batch)

    if :erlang.monotonic_time() >= deadline do
      i
    else
      drive(b, w, tab, stream, objs, mask, i, deadline)
    end
  end

  @doc "Deletes the keys `elem(perm, j)` for `j` in `from..to`. Returns `{t0, t1}`."
  def run_delete(backend, tab, perm, from, to) do
    t0 = :erlang.monotonic_time()
    delete_range(backend, tab, perm, from, to)
    t1 = :erlang.monotonic_time()
    {t0, t1}
  end

  for {b, mod} <- @backends do
    lookup = :"lookup_#{b}"
    insert = :"insert_#{b}"
    counter = :"counter_#{b}"
    mixed = :"mixed_#{b}"
    delete = :"delete_#{b}"
    fill = :"fill_#{b}"
    fill_c = :"fill_counters_#{b}"
    walk = :"walk_#{b}"
    walk_next = :"walk_next_#{b}"

    # lookup_hit and lookup_miss are the same loop over different key streams.
    defp batch(unquote(b), w, tab, s, _o, m, i, n) when w in [:lookup_hit, :lookup_miss],
      do: unquote(lookup)(tab, s, m, i, n)

    defp batch(unquote(b), :insert, tab, s, o, m, i, n), do: unquote(insert)(tab, s, o, m, i, n)

    defp batch(unquote(b), :update_counter, tab, s, _o, m, i, n),
      do: unquote(counter)(tab, s, m, i, n)

    defp batch(unquote(b), :mixed, tab, s, o, m, i, n), do: unquote(mixed)(tab, s, o, m, i, n)

    # ordered_set workloads: the same loops (the table type differs), plus the walk.
    defp batch(unquote(b), :os_lookup, tab, s, _o, m, i, n), do: unquote(lookup)(tab, s, m, i, n)

    defp batch(unquote(b), :os_insert, tab, s, o, m, i, n),
      do: unquote(insert)(tab, s, o, m, i, n)

    defp batch(unquote(b), :os_mixed, tab, s, o, m, i, n), do: unquote(mixed)(tab, s, o, m, i, n)

    defp batch(unquote(b), :os_walk, tab, s, _o, m, i, n),
      do: unquote(walk)(tab, s, m, i, max(div(n, @walk), 1))

    # One op: start at a random key, then @walk next/2 calls (stops early at the end).
    defp unquote(walk)(_tab, _s, _m, i, 0), do: i

    defp unquote(walk)(tab, s, m, i, n) do
      unquote(walk_next)(tab, :erlang.element(band(i, m) + 1, s), @walk)
      unquote(walk)(tab, s, m, i + 1, n - 1)
    end

    defp unquote(walk_next)(_tab, _k, 0), do: :ok
    defp unquote(walk_next)(_tab, :"$end_of_table", _), do: :ok

    defp unquote(walk_next)(tab, k, c),
      do: unquote(walk_next)(tab, unquote(mod).next(tab, k), c - 1)

    defp unquote(lookup)(_tab, _s, _m, i, 0), do: i

    defp unquote(lookup)(tab, s, m, i, n) do
      unquote(mod).lookup(tab, :erlang.element(band(i, m) + 1, s))
      unquote(lookup)(tab, s, m, i + 1, n - 1)
    end

    defp unquote(insert)(_tab, _s, _o, _m, i, 0), do: i

    defp unquote(insert)(tab, s, o, m, i, n) do
      unquote(mod).insert(tab, :erlang.element(:erlang.element(band(i, m) + 1, s), o))
      unquote(insert)(tab, s, o, m, i + 1, n - 1)
    end

    defp unquote(counter)(_tab, _s, _m, i, 0), do: i

    defp unquote(counter)(tab, s, m, i, n) do
      unquote(mod).update_counter(tab, :erlang.element(band(i, m) + 1, s), 1)
      unquote(counter)(tab, s, m, i + 1, n - 1)
    end

    # 10% insert, 10% delete, 80% lookup, by the op's index: i mod 10 == 0 inserts,
    # == 5 deletes, anything else looks up. The key comes from the random stream.
    defp unquote(mixed)(_tab, _s, _o, _m, i, 0), do: i

    defp unquote(mixed)(tab, s, o, m, i, n) do
      k = :erlang.element(band(i, m) + 1, s)

      case rem(i, 10) do
        0 -> unquote(mod).insert(tab, :erlang.element(k, o))
        5 -> unquote(mod).delete(tab, k)
        _ -> unquote(mod).lookup(tab, k)
      end

      unquote(mixed)(tab, s, o, m, i + 1, n - 1)
    end

    defp delete_range(unquote(b), tab, perm, from, to), do: unquote(delete)(tab, perm, from, to)

    defp unquote(delete)(_tab, _perm, j, to) when j > to, do: :ok

    defp unquote(delete)(tab, perm, j, to) do
      unquote(mod).delete(tab, :erlang.element(j, perm))
      unquote(delete)(tab, perm, j + 1, to)
    end

    @doc false
    def fill(unquote(b), tab, perm, objs), do: unquote(fill)(tab, perm, objs, 1, tuple_size(perm))

    defp unquote(fill)(_tab, _perm, _objs, j, n) when j > n, do: :ok

    defp unquote(fill)(tab, perm, objs, j, n) do
      unquote(mod).insert(tab, :erlang.element(:erlang.element(j, perm), objs))
      unquote(fill)(tab, perm, objs, j + 1, n)
    end

    @doc false
    def fill_counters(unquote(b), tab, perm), do: unquote(fill_c)(tab, perm, 1, tuple_size(perm))

    defp unquote(fill_c)(_tab, _perm, j, n) when j > n, do: :ok

    defp unquote(fill_c)(tab, perm, j, n) do
      unquote(mod).insert(tab, {:erlang.element(j, perm), 0})
      unquote(fill_c)(tab, perm, j + 1, n)
    end
  end
end
