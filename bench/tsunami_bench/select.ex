defmodule TsunamiBench.Select do
  @moduledoc false
  # Match-spec workloads (`--only sel_prefix,sel_scan,sel_delete,sel_count`): each runs
  # the same spec on an :ets table and a Tsunami table with the same contents, in the same
  # run, alternating, and prints the median time per operation and the ratio
  # (ets time / Tsunami time: above 1.00x Tsunami is faster). See bench/README.md.

  @n 1_000_000

  def sections, do: [:sel_prefix, :sel_scan, :sel_delete, :sel_count]

  def run(cfg, sections) do
    IO.puts("## Match specifications (#{@n} objects, median of #{cfg.reps} reps)\n")

    IO.puts(
      String.pad_trailing("workload", 44) <>
        String.pad_leading("ets", 12) <> String.pad_leading("tsunami", 12) <> "   ratio"
    )

    for s <- sections, do: section(s, cfg)
    IO.puts("")
  end

  defp fill(mod, type, obj) do
    t = mod.new(:bench_sel, [type, :public])
    Enum.each(Enum.chunk_every(1..@n, 10_000), fn c -> mod.insert(t, Enum.map(c, obj)) end)
    t
  end

  # {g, i} keys: 10_000 groups of 100 keys.
  defp prefix_obj(i), do: {{div(i, 100), rem(i, 100)}, i, "value"}
  defp flat_obj(i), do: {i, rem(i, 100), "value"}

  defp section(:sel_prefix, cfg) do
    tabs = for mod <- [:ets, Tsunami], do: {mod, fill(mod, :ordered_set, &prefix_obj/1)}
    :rand.seed(:exsss, {cfg.seed, 1, 1})
    groups = for _ <- 1..1000, do: :rand.uniform(div(@n, 100)) - 1
    spec = fn g -> [{{{g, :_}, :"$1", :_}, [], [:"$_"]}] end

    row(
      "select 100 by key prefix, ordered_set",
      cfg,
      tabs,
      fn mod, t ->
        Enum.each(groups, fn g -> 100 = length(mod.select(t, spec.(g))) end)
      end,
      length(groups)
    )

    drop(tabs)
  end

  defp section(:sel_scan, cfg) do
    spec = [{{:"$1", :"$2", :_}, [{:<, :"$2", 1}], [:"$1"]}]

    for type <- [:set, :ordered_set] do
      tabs = for mod <- [:ets, Tsunami], do: {mod, fill(mod, type, &flat_obj/1)}

      row("full select, guard (1% hit), #{type}", cfg, tabs, fn mod, t ->
        10_000 = length(mod.select(t, spec))
      end)

      all = [{{:"$1", :"$2", :_}, [{:<, :"$2", 100}], [:"$_"]}]

      row("full select, all objects back ($_), #{type}", cfg, tabs, fn mod, t ->
        @n = length(mod.select(t, all))
      end)

      drop(tabs)
    end
  end

  defp section(:sel_count, cfg) do
    spec = [{{:_, :"$2", :_}, [{:<, :"$2", 10}], [true]}]

    for type <- [:set, :ordered_set] do
      tabs = for mod <- [:ets, Tsunami], do: {mod, fill(mod, type, &flat_obj/1)}

      row("select_count 10%, #{type}", cfg, tabs, fn mod, t ->
        100_000 = mod.select_count(t, spec)
      end)

      drop(tabs)
    end
  end

  defp section(:sel_delete, cfg) do
    spec = [{{:_, :"$2", :_}, [{:<, :"$2", 10}], [true]}]

    for type <- [:set, :ordered_set] do
      times =
        for rep <- 1..cfg.reps, mod <- rotate([:ets, Tsunami], rep) do
          t = fill(mod, type, &flat_obj/1)
          {us, 100_000} = :timer.tc(fn -> mod.select_delete(t, spec) end)
          mod.delete(t)
          {mod, us}
        end

      print("select_delete 10%, #{type}", median(times, :ets), median(times, Tsunami))
    end
  end

  defp rotate(l, rep), do: if(rem(rep, 2) == 0, do: Enum.reverse(l), else: l)

  defp row(label, cfg, tabs, fun, ops \\ 1) do
    # Warm-up, then reps alternating which library goes first.
    Enum.each(tabs, fn {mod, t} -> fun.(mod, t) end)

    times =
      for rep <- 1..cfg.reps, {mod, t} <- rotate(tabs, rep) do
        {us, _} = :timer.tc(fn -> fun.(mod, t) end)
        {mod, us / ops}
      end

    print(label, median(times, :ets), median(times, Tsunami))
  end

  defp median(times, mod) do
    l = for({^mod, us} <- times, do: us) |> Enum.sort()
    Enum.at(l, div(length(l), 2))
  end

  defp print(label, ets_us, tsu_us) do
    IO.puts(
      String.pad_trailing(label, 44) <>
        String.pad_leading(fmt(ets_us), 12) <>
        String.pad_leading(fmt(tsu_us), 12) <>
        "   " <> :erlang.float_to_binary(ets_us / tsu_us, decimals: 2) <> "x"
    )
  end

  defp fmt(us) when us >= 1000, do: :erlang.float_to_binary(us / 1000, decimals: 1) <> " ms"
  defp fmt(us), do: :erlang.float_to_binary(us * 1.0, decimals: 1) <> " us"

  defp drop(tabs), do: Enum.each(tabs, fn {mod, t} -> mod.delete(t) end)
end
