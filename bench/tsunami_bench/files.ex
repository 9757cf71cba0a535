defmodule TsunamiBench.Files do
  @moduledoc false
  # tab2file / file2tab of n objects {i, "value-i", [i, 2i]} from a [:set, :public] table,
  # :ets and Tsunami side by side in this VM, each timed alone (best of `reps`), plain
  # and with `extended_info: [:object_count, :md5sum]` (file2tab then with verify: true).
  #
  # Streaming: while tab2file runs, a sampler reads :erlang.memory(:total) every 2 ms;
  # "peak" is the highest reading minus the one before the call. The table itself is
  # already allocated, so this is what the dump needs on top of it. For file2tab the peak
  # includes the new table for :ets (BEAM memory) but not for Tsunami (NIF memory).

  @reps 3

  def run(n) do
    IO.puts("== tab2file / file2tab, #{n} objects {i, \"value-i\", [i, 2i]}, best of #{@reps} ==")
    IO.puts("   ratio = :ets time / Tsunami time (> 1: Tsunami faster)")

    dir =
      Path.join(System.tmp_dir!(), "tsunami_bench_files_#{System.unique_integer([:positive])}")

    File.mkdir_p!(dir)

    tabs = %{ets: fill(:ets, n), tsunami: fill(Tsunami, n)}

    IO.puts(
      :io_lib.format("   ~-32s ~10s ~10s ~7s ~12s ~12s", [
        "",
        "ets",
        "tsunami",
        "ratio",
        "ets peak",
        "tsu peak"
      ])
    )

    for {label, opts, verify} <- [
          {"plain", [], false},
          {"extended_info / verify", [extended_info: [:object_count, :md5sum]], true}
        ] do
      files = %{ets: Path.join(dir, "ets.tab"), tsunami: Path.join(dir, "tsu.tab")}

      dump =
        for {b, mod} <- [ets: :ets, tsunami: Tsunami], into: %{} do
          f = String.to_charlist(files[b])
          {b, best(fn -> peak(fn -> :ok = mod.tab2file(tabs[b], f, opts) end) end)}
        end

      row("tab2file " <> label, dump.ets, dump.tsunami)

      load =
        for {b, mod} <- [ets: :ets, tsunami: Tsunami], into: %{} do
          f = String.to_charlist(files[b])

          {b,
           best(fn ->
             peak(fn ->
               {:ok, t} = mod.file2tab(f, verify: verify)
               mod.delete(t)
             end)
           end)}
        end

      row("file2tab " <> label, load.ets, load.tsunami)
    end

    File.rm_rf!(dir)
    IO.puts("")
  end

  defp fill(mod, n) do
    t = mod.new(:bench_files, [:set, :public])

    1..n
    |> Stream.chunk_every(10_000)
    |> Enum.each(fn chunk -> mod.insert(t, for(i <- chunk, do: {i, "value-#{i}", [i, 2 * i]})) end)

    t
  end

  defp best(fun) do
    Enum.map(1..@reps, fn _ -> fun.() end) |> Enum.min_by(fn {us, _} -> us end)
  end

  # {microseconds, peak extra bytes} of one call.
  defp peak(fun) do
    :erlang.garbage_collect()
    base = :erlang.memory(:total)
    me = self()
    sampler = spawn_link(fn -> sample(me, base) end)
    {us, _} = :timer.tc(fun)
    send(sampler, :stop)

    receive do
      {:peak, ^sampler, max} -> {us, max - base}
    end
  end

  defp sample(parent, max) do
    receive do
      :stop -> send(parent, {:peak, self(), max})
    after
      2 -> sample(parent, max(max, :erlang.memory(:total)))
    end
  end

  defp row(label, {ets_us, ets_peak}, {tsu_us, tsu_peak}) do
    IO.puts(
      :io_lib.format("   ~-32s ~10s ~10s ~7.2f ~12s ~12s", [
        label,
        ms(ets_us),
        ms(tsu_us),
        ets_us / max(tsu_us, 1),
        mb(ets_peak),
        mb(tsu_peak)
      ])
    )
  end

  defp ms(us), do: "#{:erlang.float_to_binary(us / 1000, decimals: 1)} ms"
  defp mb(bytes), do: "#{:erlang.float_to_binary(bytes / 1_048_576, decimals: 1)} MB"
end
