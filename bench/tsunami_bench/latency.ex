defmodule TsunamiBench.Latency do
  @moduledoc false
  # Per-insert latency while growing a table from empty to `n` objects.
  #
  # Each insert is timed on its own: `monotonic_time(:nanosecond)` just before and just
  # after the call. The object is built before the first clock read. Latencies go into a
  # histogram (an :atomics array; 10 ns buckets below 1 ms, 100 us buckets above), so
  # nothing grows with `n` except the table; the maximum is kept exactly, with the table
  # size at which it happened.

  @fine_limit 1_000_000
  @fine_buckets 100_000
  @coarse_buckets 100_000
  @size @fine_buckets + @coarse_buckets

  defp bucket(d) when d < @fine_limit, do: div(d, 10) + 1

  defp bucket(d),
    do: @fine_buckets + 1 + min(div(d - @fine_limit, 100_000), @coarse_buckets - 1)

  # Upper bound (ns) of bucket `b`.
  defp bucket_top(b) when b <= @fine_buckets, do: b * 10
  defp bucket_top(b), do: @fine_limit + (b - @fine_buckets) * 100_000

  @doc "Grows a fresh table of `backend` with `opts` to `n` objects. Returns a stats map."
  def grow(backend, opts, n) do
    parent = self()

    # A fresh process: its heap holds nothing but the loop's short-lived objects.
    {pid, ref} =
      spawn_monitor(fn ->
        tab = new_table(backend, opts)
        hist = :atomics.new(@size, signed: false)
        :erlang.garbage_collect()
        t0 = :erlang.monotonic_time(:nanosecond)
        {max, at} = loop(backend, tab, 1, n, hist, 0, 0)
        wall = :erlang.monotonic_time(:nanosecond) - t0
        size = table_size(backend, tab)
        delete_table(backend, tab)
        send(parent, {self(), stats(hist, n, max, at, wall, size)})
      end)

    receive do
      {^pid, stats} ->
        Process.demonitor(ref, [:flush])
        stats

      {:DOWN, ^ref, :process, _, reason} ->
        {:error, reason}
    end
  end

  @doc "Cost of the measurement itself: two clock reads around nothing, `n` times."
  def timer_overhead(n) do
    hist = :atomics.new(@size, signed: false)
    {max, at} = empty_loop(1, n, hist, 0, 0)
    stats(hist, n, max, at, 0, 0)
  end

  defp empty_loop(i, n, _h, mx, at) when i > n, do: {mx, at}

  defp empty_loop(i, n, h, mx, at) do
    t0 = :erlang.monotonic_time(:nanosecond)
    t1 = :erlang.monotonic_time(:nanosecond)
    d = t1 - t0
    :atomics.add(h, bucket(d), 1)
    if d > mx, do: empty_loop(i + 1, n, h, d, i), else: empty_loop(i + 1, n, h, mx, at)
  end

  for {b, mod} <- [ets: :ets, tsunami: Tsunami] do
    name = :"grow_#{b}"

    defp loop(unquote(b), tab, i, n, h, mx, at), do: unquote(name)(tab, i, n, h, mx, at)

    defp unquote(name)(_tab, i, n, _h, mx, at) when i > n, do: {mx, at}

    defp unquote(name)(tab, i, n, h, mx, at) do
      obj = {i, "value-" <> Integer.to_string(i), [i, 2 * i]}
      t0 = :erlang.monotonic_time(:nanosecond)
      unquote(mod).insert(tab, obj)
      t1 = :erlang.monotonic_time(:nanosecond)
      d = t1 - t0
      :atomics.add(h, bucket(d), 1)

      if d > mx,
        do: unquote(name)(tab, i + 1, n, h, d, i),
        else: unquote(name)(tab, i + 1, n, h, mx, at)
    end
  end

  defp new_table(:ets, opts), do: :ets.new(:bench_latency, opts)
  defp new_table(:tsunami, opts), do: Tsunami.new(:bench_latency, opts)
  defp delete_table(:ets, t), do: :ets.delete(t)
  defp delete_table(:tsunami, t), do: Tsunami.delete(t)
  defp table_size(:ets, t), do: :ets.info(t, :size)
  defp table_size(:tsunami, t), do: Tsunami.info(t, :size)

  defp stats(hist, n, max, at, wall, size) do
    counts = for b <- 1..@size, do: :atomics.get(hist, b)
    targets = [p50: 0.5, p99: 0.99, p999: 0.999, p9999: 0.9999]

    pcts = Enum.map(targets, fn {name, q} -> {name, percentile(counts, ceil(q * n))} end)

    over = fn ns ->
      first = bucket(ns)
      counts |> Enum.drop(first) |> Enum.sum()
    end

    Map.new(pcts)
    |> Map.merge(%{
      n: n,
      max: max,
      max_at: at,
      wall_ns: wall,
      size: size,
      over_100us: over.(100_000),
      over_1ms: over.(1_000_000)
    })
  end

  defp percentile(counts, rank) do
    Enum.reduce_while(counts, {1, 0}, fn c, {b, acc} ->
      if acc + c >= rank, do: {:halt, b}, else: {:cont, {b + 1, acc + c}}
    end)
    |> case do
      b when is_integer(b) -> bucket_top(b)
      _ -> nil
    end
  end
end
