defmodule TsunamiBench do
  @moduledoc false
  # Tsunami vs :ets benchmark harness. Entry point: `bench/run.exs`; see bench/README.md.

  import Bitwise, only: [<<<: 2]

  alias TsunamiBench.{Latency, Loops, Memory}

  @workloads [:lookup_hit, :lookup_miss, :insert, :delete, :mixed, :update_counter] ++
               [:os_lookup, :os_insert, :os_delete, :os_mixed, :os_walk]
  # ordered_set workloads: the same loops (os_walk is its own) on ordered_set tables,
  # plain `[:ordered_set, :public]` vs `[:ordered_set, :public, write_concurrency: true]`.
  @os_workloads [:os_lookup, :os_insert, :os_delete, :os_mixed, :os_walk]
  @os_plain [:ordered_set, :public]
  @os_conc [:ordered_set, :public, {:write_concurrency, true}]
  @sections [:memory, :latency, :files]
  # Match-spec workloads (TsunamiBench.Select): only with --only.
  @select_sections [:sel_prefix, :sel_scan, :sel_delete, :sel_count]

  # {column, backend module tag, table options}. Tsunami is run with both option sets
  # and each variant is compared with the :ets table created with the same options.
  @plain [:set, :public]
  @conc [:set, :public, {:read_concurrency, true}, {:write_concurrency, true}]
  @variants [
    tsu_plain: {:tsunami, @plain},
    tsu_conc: {:tsunami, @conc},
    ets_plain: {:ets, @plain},
    ets_conc: {:ets, @conc}
  ]

  @switches [
    quick: :boolean,
    full: :boolean,
    only: :string,
    keys: :string,
    procs: :string,
    time: :float,
    reps: :integer,
    latency_n: :integer,
    memory_n: :integer,
    seed: :integer,
    csv: :string,
    help: :boolean
  ]

  def main(argv) do
    {opts, rest, invalid} = OptionParser.parse(argv, strict: @switches)

    if rest != [] or invalid != [] do
      IO.puts(:stderr, "unknown arguments: #{inspect(rest ++ invalid)}")
      usage()
      System.halt(2)
    end

    if opts[:help],
      do:
        (
          usage()
          System.halt(0)
        )

    cfg = config(opts)
    header(cfg)

    if cfg.workloads != [], do: throughput(cfg)
    if :memory in cfg.sections, do: memory(cfg)
    if :latency in cfg.sections, do: latency(cfg)
    if :files in cfg.sections, do: TsunamiBench.Files.run(cfg.memory_n)

    case Enum.filter(@select_sections, &(&1 in cfg.only)) do
      [] -> :ok
      sel -> TsunamiBench.Select.run(cfg, sel)
    end

    if cfg.workloads != [], do: summary(cfg)
    IO.puts("done; load average now #{loadavg()}")
    :ok
  end

  defp usage do
    IO.puts("""
    usage: MIX_ENV=bench mix run bench/run.exs [options]

      --quick            tiny sizes, a few seconds (smoke test)
      --full             1 s per measurement, latency to 10M objects
      --only a,b,...     workloads/sections: #{Enum.join(@workloads ++ @sections ++ @select_sections, ",")}
      --keys 1000,...    table sizes (default 1000,1000000)
      --procs 1,2        worker process counts (default 1,2)
      --time SECONDS     measured time per run (default 0.4; warm-up is a quarter of it)
      --reps N           repetitions, median reported (default 3)
      --latency-n N      objects for the latency run (default 1M, 10M with --full)
      --memory-n N       objects for the memory and files runs (default 1M)
      --seed N           :rand seed (default 42)
      --csv FILE         also append each throughput row to FILE as CSV (bench/scaling.exs)
    """)
  end

  defp config(opts) do
    mode =
      cond do
        opts[:quick] -> :quick
        opts[:full] -> :full
        true -> :default
      end

    base =
      case mode do
        :quick ->
          %{
            keys: [1000, 10_000],
            time: 0.02,
            latency_n: 100_000,
            memory_n: 100_000,
            stream: 1 <<< 14
          }

        :default ->
          %{
            keys: [1000, 1_000_000],
            time: 0.4,
            latency_n: 1_000_000,
            memory_n: 1_000_000,
            stream: 1 <<< 20
          }

        :full ->
          %{
            keys: [1000, 1_000_000],
            time: 1.0,
            latency_n: 10_000_000,
            memory_n: 1_000_000,
            stream: 1 <<< 20
          }
      end

    only =
      case opts[:only] do
        nil -> @workloads ++ @sections
        s -> s |> String.split(",", trim: true) |> Enum.map(&to_known/1)
      end

    %{
      mode: mode,
      keys: int_list(opts[:keys]) || base.keys,
      procs: int_list(opts[:procs]) || [1, 2],
      time: opts[:time] || base.time,
      reps: opts[:reps] || 3,
      latency_n: opts[:latency_n] || base.latency_n,
      memory_n: opts[:memory_n] || base.memory_n,
      stream: base.stream,
      seed: opts[:seed] || 42,
      csv: opts[:csv],
      workloads: Enum.filter(@workloads, &(&1 in only)),
      sections: Enum.filter(@sections, &(&1 in only)),
      only: only,
      results: :ets.new(:bench_results, [:bag, :public])
    }
  end

  defp to_known(s) do
    atom = s |> String.trim() |> String.to_atom()

    if atom in @workloads or atom in @sections or atom in @select_sections do
      atom
    else
      raise ArgumentError, "unknown workload/section #{inspect(s)}"
    end
  end

  defp int_list(nil), do: nil

  defp int_list(s),
    do:
      s
      |> String.split(",", trim: true)
      |> Enum.map(&(&1 |> String.trim() |> String.to_integer()))

  # ---------------------------------------------------------------------------------------
  # Header

  defp header(cfg) do
    {{y, mo, d}, {h, mi, s}} = :calendar.universal_time()
    date = :io_lib.format("~4..0B-~2..0B-~2..0B ~2..0B:~2..0B:~2..0B UTC", [y, mo, d, h, mi, s])

    IO.puts("Tsunami vs :ets benchmark (#{cfg.mode} mode)")
    IO.puts("  date:        #{date}")

    IO.puts(
      "  OTP:         #{:erlang.system_info(:otp_release)} (erts #{:erlang.system_info(:version)}), Elixir #{System.version()}"
    )

    IO.puts(
      "  schedulers:  #{:erlang.system_info(:schedulers_online)} online / #{:erlang.system_info(:schedulers)}, " <>
        "dirty CPU #{:erlang.system_info(:dirty_cpu_schedulers_online)}, logical CPUs #{:erlang.system_info(:logical_processors_available)}"
    )

    IO.puts(
      "  JIT:         #{:erlang.system_info(:emu_flavor)}, wordsize #{:erlang.system_info(:wordsize)}"
    )

    IO.puts("  system:      #{cpu_model()}, #{mem_total()}, load average #{loadavg()}")
    IO.puts("  source:      #{git_state()}")

    IO.puts(
      "  settings:    keys #{inspect(cfg.keys)}, procs #{inspect(cfg.procs)}, #{cfg.time}s per run " <>
        "(+#{cfg.time / 4}s warm-up), median of #{cfg.reps}, seed #{cfg.seed}"
    )

    IO.puts("")
  end

  defp loadavg do
    case File.read("/proc/loadavg") do
      {:ok, s} -> s |> String.split() |> Enum.take(3) |> Enum.join(" ")
      _ -> "?"
    end
  end

  defp git_state do
    case System.get_env("BENCH_SOURCE") do
      nil -> git_describe()
      src -> src
    end
  end

  defp git_describe do
    case System.cmd("git", ["describe", "--always", "--dirty"], stderr_to_stdout: true) do
      {out, 0} -> "git " <> String.trim(out)
      _ -> "git ?"
    end
  rescue
    _ -> "git ?"
  end

  defp cpu_model do
    case File.read("/proc/cpuinfo") do
      {:ok, s} ->
        case Regex.run(~r/model name\s*:\s*(.+)/, s) do
          [_, m] -> String.trim(m)
          _ -> "cpu ?"
        end

      _ ->
        "cpu ?"
    end
  end

  defp mem_total do
    case File.read("/proc/meminfo") do
      {:ok, s} ->
        case Regex.run(~r/MemTotal:\s*(\d+) kB/, s) do
          [_, kb] -> "#{Float.round(String.to_integer(kb) / 1_048_576, 1)} GiB RAM"
          _ -> "RAM ?"
        end

      _ ->
        "RAM ?"
    end
  end

  # ---------------------------------------------------------------------------------------
  # Throughput

  defp throughput(cfg) do
    IO.puts("== Throughput (ops/s, all worker processes together; median of #{cfg.reps}) ==")
    IO.puts("   tsu-plain/ets-plain: both tables [:set, :public]")

    IO.puts(
      "   tsu-conc/ets-conc:   both tables [:set, :public, read_concurrency: true, write_concurrency: true]"
    )

    IO.puts(
      "   ratio > 1.00 means Tsunami is faster; spread = largest (max-min)/median among the 4 columns"
    )

    if Enum.any?(cfg.workloads, &(&1 in @os_workloads)) do
      IO.puts(
        "   os_* rows: plain = [:ordered_set, :public], conc = [:ordered_set, :public, write_concurrency: true]"
      )

      IO.puts("   os_walk: one op = first key from the stream, then 100 next/2 calls")
    end

    IO.puts("")
    IO.puts(row_header())
    IO.puts(String.duplicate("-", String.length(row_header())))

    # Global warm-up: a short run of every loop on small tables, results discarded.
    warm_cfg = %{cfg | time: min(cfg.time, 0.05), reps: 1}
    prepare_data(warm_cfg, 1000)

    for w <- cfg.workloads, {_col, {b, o}} <- @variants do
      measure(warm_cfg, w, b, o, 1000, 1)
    end

    for k <- cfg.keys do
      prepare_data(cfg, k)

      samples = run_block(cfg, k)

      for w <- cfg.workloads, p <- cfg.procs do
        row(cfg, samples, w, k, p)
      end

      if Enum.any?(cfg.workloads, &(&1 in @os_workloads)), do: os_base_nodes(cfg, k)

      drop_data(k)
    end

    IO.puts("")
  end

  defp row_header do
    :io_lib.format("~-15s ~9s ~5s ~10s ~10s ~10s ~10s ~12s ~12s ~7s", [
      "workload",
      "keys",
      "procs",
      "tsu-plain",
      "tsu-conc",
      "ets-plain",
      "ets-conc",
      "plain ratio",
      "conc ratio",
      "spread"
    ])
    |> to_string()
  end

  # Tables whose content the workloads leave unchanged are shared: lookups and
  # overwriting inserts (same objects back) run on one filled table, one cell after the
  # other, and so do update_counter's cells. mixed and delete change the table, so each
  # of their cells gets a fresh one. Repetition r runs the four variants in an order
  # rotated by r, so ets and Tsunami alternate.
  @groups [
    {[:lookup_hit, :lookup_miss, :insert], :shared},
    {[:update_counter], :shared},
    {[:mixed], :fresh},
    {[:delete], :fresh},
    {[:os_lookup, :os_insert, :os_walk], :shared},
    {[:os_mixed], :fresh},
    {[:os_delete], :fresh}
  ]

  defp run_block(cfg, k) do
    variants = Enum.to_list(@variants)

    groups =
      for {ws, mode} <- @groups,
          ws = Enum.filter(ws, &(&1 in cfg.workloads)),
          ws != [],
          do: {ws, mode}

    for r <- 0..(cfg.reps - 1),
        {col, {b, o}} <- rotate(variants, r),
        {ws, mode} <- groups,
        reduce: [] do
      acc ->
        IO.write(
          :stderr,
          "\r  keys #{fmt_int(k)}: rep #{r + 1}/#{cfg.reps} #{col} #{Enum.join(ws, ",")}\e[K"
        )

        res =
          case mode do
            :shared ->
              tab = setup_table(b, o, hd(ws), k)
              res = for w <- ws, p <- cfg.procs, do: {{w, p, col}, run(cfg, w, b, tab, k, p)}
              delete_table(b, tab)
              res

            :fresh ->
              for w <- ws, p <- cfg.procs, do: {{w, p, col}, measure(cfg, w, b, o, k, p)}
          end

        res ++ acc
    end
    |> tap(fn _ -> IO.write(:stderr, "\r\e[K") end)
  end

  defp row(cfg, all_samples, w, k, p) do
    variants = Enum.to_list(@variants)
    samples = for {{^w, ^p, col}, v} <- all_samples, do: {col, v}

    med =
      Map.new(Keyword.keys(variants), fn col ->
        {col, samples |> Keyword.get_values(col) |> median()}
      end)

    spread =
      Keyword.keys(variants)
      |> Enum.map(fn col ->
        v = Keyword.get_values(samples, col)
        (Enum.max(v) - Enum.min(v)) / max(med[col], 1.0e-9)
      end)
      |> Enum.max()

    rp = med.tsu_plain / med.ets_plain
    rc = med.tsu_conc / med.ets_conc
    :ets.insert(cfg.results, {w, k, p, rp, rc})
    if cfg.csv, do: csv_row(cfg.csv, w, k, p, med)

    :io_lib.format("~-15s ~9s ~5B ~10s ~10s ~10s ~10s ~12s ~12s ~6.1f%", [
      Atom.to_string(w),
      fmt_int(k),
      p,
      fmt_ops(med.tsu_plain),
      fmt_ops(med.tsu_conc),
      fmt_ops(med.ets_plain),
      fmt_ops(med.ets_conc),
      fmt_ratio(rp),
      fmt_ratio(rc),
      spread * 100
    ])
    |> IO.puts()
  end

  @csv_header "workload,keys,procs,schedulers,tsu_plain,tsu_conc,ets_plain,ets_conc\n"

  # One throughput row (median ops/s of each variant) appended to `file`.
  defp csv_row(file, w, k, p, med) do
    unless File.exists?(file), do: File.write!(file, @csv_header)
    s = :erlang.system_info(:schedulers_online)
    cols = Enum.map([med.tsu_plain, med.tsu_conc, med.ets_plain, med.ets_conc], &round/1)
    File.write!(file, Enum.join([w, k, p, s | cols], ",") <> "\n", [:append])
  end

  defp rotate(list, r) do
    r = rem(r, length(list))
    Enum.drop(list, r) ++ Enum.take(list, r)
  end

  defp median(list) do
    s = Enum.sort(list)
    n = length(s)

    if rem(n, 2) == 1,
      do: Enum.at(s, div(n, 2)),
      else: (Enum.at(s, div(n, 2) - 1) + Enum.at(s, div(n, 2))) / 2
  end

  # Pre-generated data, shared by all workers through :persistent_term (no copying):
  # objects by key, random key streams (hits in 1..k, misses in k+1..2k), and a random
  # permutation of 1..k for fills and delete passes.
  defp prepare_data(cfg, k) do
    :rand.seed(:exsss, {cfg.seed, k, 1})
    objs = List.to_tuple(for i <- 1..k, do: {i, "value-#{i}", [i, 2 * i]})
    hit = List.to_tuple(for _ <- 1..cfg.stream, do: :rand.uniform(k))
    miss = List.to_tuple(for _ <- 1..cfg.stream, do: k + :rand.uniform(k))
    perm = List.to_tuple(Enum.shuffle(1..k))

    :persistent_term.put({__MODULE__, k}, %{
      objs: objs,
      hit: hit,
      miss: miss,
      perm: perm,
      mask: cfg.stream - 1
    })
  end

  defp drop_data(k), do: :persistent_term.erase({__MODULE__, k})

  defp data(k), do: :persistent_term.get({__MODULE__, k})

  # One measurement: fresh table, filled (not timed), p workers. Returns ops/s.
  defp measure(cfg, w, b, opts, k, p) do
    tab = setup_table(b, opts, w, k)
    result = run(cfg, w, b, tab, k, p)
    delete_table(b, tab)
    result
  end

  defp setup_table(b, opts, w, k) do
    d = data(k)
    tab = new_table(b, table_opts(w, opts))

    case w do
      :update_counter -> Loops.fill_counters(b, tab, d.perm)
      _ -> Loops.fill(b, tab, d.perm, d.objs)
    end

    tab
  end

  # os_* workloads run on ordered_set tables: plain or write_concurrency like the column.
  defp table_opts(w, opts) when w in @os_workloads,
    do: if(opts == @plain, do: @os_plain, else: @os_conc)

  defp table_opts(_w, opts), do: opts

  # CA-tree base nodes (`elem(Tsunami.info(t, :stats), 0)`) of a write_concurrency
  # ordered_set after os_mixed with the most workers (contended), then after the same
  # time with one worker (quiet: the tree may join base nodes again).
  defp os_base_nodes(cfg, k) do
    tab = setup_table(:tsunami, @conc, :os_mixed, k)
    p = Enum.max(cfg.procs)
    _ = run(cfg, :os_mixed, :tsunami, tab, k, p)
    contended = elem(Tsunami.info(tab, :stats), 0)
    _ = run(cfg, :os_mixed, :tsunami, tab, k, 1)
    quiet = elem(Tsunami.info(tab, :stats), 0)
    delete_table(:tsunami, tab)

    IO.puts(
      "   ordered_set write_concurrency, #{fmt_int(k)} keys: CA-tree base nodes " <>
        "#{contended} after os_mixed with #{p} procs, #{quiet} after 1 proc"
    )
  end

  defp run(cfg, :delete, b, tab, k, p), do: measure_delete(cfg, b, tab, k, p)
  defp run(cfg, :os_delete, b, tab, k, p), do: measure_delete(cfg, b, tab, k, p)
  defp run(cfg, w, b, tab, k, p), do: measure_timed(cfg, w, b, tab, k, p)

  # Fixed time: each worker starts at its own offset in the key stream, runs a warm-up
  # until a shared deadline, then the measured part until a second shared deadline.
  # ops/s = sum of ops / (latest end - earliest start).
  defp measure_timed(cfg, w, b, tab, k, p) do
    parent = self()

    workers =
      for wi <- 0..(p - 1) do
        spawn_link(fn ->
          d = data(k)
          stream = if w == :lookup_miss, do: d.miss, else: d.hit
          i0 = div(wi * (d.mask + 1), p)
          send(parent, {:ready, self()})

          receive do
            {:go, warm_deadline, deadline} ->
              {wops, _, _} = Loops.run_timed(b, w, tab, stream, d.objs, d.mask, i0, warm_deadline)
              res = Loops.run_timed(b, w, tab, stream, d.objs, d.mask, i0 + wops, deadline)
              send(parent, {:done, self(), res})
          end
        end)
      end

    for pid <- workers, do: receive(do: ({:ready, ^pid} -> :ok))
    unit = :erlang.convert_time_unit(1, :second, :native)
    now = :erlang.monotonic_time()
    warm_deadline = now + round(cfg.time / 4 * unit)
    deadline = warm_deadline + round(cfg.time * unit)
    for pid <- workers, do: send(pid, {:go, warm_deadline, deadline})

    results = for pid <- workers, do: receive(do: ({:done, ^pid, r} -> r))
    ops = results |> Enum.map(&elem(&1, 0)) |> Enum.sum()
    t0 = results |> Enum.map(&elem(&1, 1)) |> Enum.min()
    t1 = results |> Enum.map(&elem(&1, 2)) |> Enum.max()
    ops / (:erlang.convert_time_unit(t1 - t0, :native, :microsecond) / 1.0e6)
  end

  # Fixed op count: passes over a full table. In each pass every worker deletes its share
  # of the k keys (disjoint ranges of the random permutation); the table is refilled
  # between passes, not timed. Pass time = latest worker end - earliest worker start.
  # Passes repeat until `time` seconds of deletes or 1M deletes (at least one pass).
  # Tables of <= 100K keys get warm-up passes first (a quarter of `time`).
  defp measure_delete(cfg, b, tab, k, p) do
    parent = self()

    workers =
      for wi <- 0..(p - 1) do
        from = div(wi * k, p) + 1
        to = div((wi + 1) * k, p)

        spawn_link(fn ->
          d = data(k)
          delete_worker(parent, b, tab, d.perm, from, to)
        end)
      end

    unit = :erlang.convert_time_unit(1, :second, :native)
    d = data(k)

    if k <= 100_000 do
      warm_until = :erlang.monotonic_time() + round(cfg.time / 4 * unit)

      delete_passes(
        b,
        tab,
        d,
        workers,
        0,
        0,
        fn _ops, _el -> :erlang.monotonic_time() >= warm_until end,
        false
      )
    end

    target = round(cfg.time * unit)

    {ops, elapsed} =
      delete_passes(
        b,
        tab,
        d,
        workers,
        0,
        0,
        fn ops, el -> el >= target or ops >= 1_000_000 end,
        true
      )

    for pid <- workers, do: send(pid, :stop)
    ops / (:erlang.convert_time_unit(elapsed, :native, :microsecond) / 1.0e6)
  end

  defp delete_passes(b, tab, d, workers, ops, elapsed, done?, first?) do
    # The table arrives full on the first pass; refill it on later ones.
    unless first?, do: Loops.fill(b, tab, d.perm, d.objs)
    for pid <- workers, do: send(pid, :pass)
    results = for pid <- workers, do: receive(do: ({:deleted, ^pid, r} -> r))
    t0 = results |> Enum.map(&elem(&1, 0)) |> Enum.min()
    t1 = results |> Enum.map(&elem(&1, 1)) |> Enum.max()
    ops = ops + tuple_size(d.perm)
    elapsed = elapsed + (t1 - t0)

    if done?.(ops, elapsed),
      do: {ops, elapsed},
      else: delete_passes(b, tab, d, workers, ops, elapsed, done?, false)
  end

  defp delete_worker(parent, b, tab, perm, from, to) do
    receive do
      :pass ->
        send(parent, {:deleted, self(), Loops.run_delete(b, tab, perm, from, to)})
        delete_worker(parent, b, tab, perm, from, to)

      :stop ->
        :ok
    end
  end

  defp new_table(:ets, opts), do: :ets.new(:bench, opts)
  defp new_table(:tsunami, opts), do: Tsunami.new(:bench, opts)
  defp delete_table(:ets, t), do: :ets.delete(t)
  defp delete_table(:tsunami, t), do: Tsunami.delete(t)

  # ---------------------------------------------------------------------------------------
  # Memory

  defp memory(cfg) do
    n = cfg.memory_n

    IO.puts(
      "== Memory: #{fmt_int(n)} objects {i, \"value-i\", [i, 2i]} in a [:set, :public] table =="
    )

    IO.puts("   each case runs in a fresh child VM; bytes/object = delta / #{fmt_int(n)}")
    IO.puts("   info     = info(t, :memory) * wordsize (what the table reports)")
    IO.puts("   RSS      = VmRSS after - before (OS view: everything the VM and the NIF hold)")
    IO.puts("   BEAM     = :erlang.memory(:total) after - before (BEAM allocators, ETS included)")

    IO.puts(
      "   RSS-BEAM = memory outside BEAM's accounting (the NIF's Rust heap, allocator slack)"
    )

    IO.puts(
      "   baseline = the same fill loop storing nothing (RSS the loop itself leaves behind)"
    )

    IO.puts("")

    res = for b <- [:none, :ets, :tsunami], into: %{}, do: {b, Memory.measure(b, n)}

    case Enum.find(res, fn {_, r} -> match?({:error, _}, r) end) do
      {b, {:error, msg}} ->
        IO.puts("   #{b}: FAILED\n#{msg}\n")

      nil ->
        IO.puts(
          :io_lib.format("   ~-10s ~10s ~12s ~10s ~10s ~10s", [
            "",
            "objects",
            "info B/obj",
            "RSS B/obj",
            "BEAM B/obj",
            "RSS-BEAM"
          ])
        )

        per = fn r, key -> r[key] / n end

        for b <- [:none, :ets, :tsunami] do
          r = res[b]
          name = if b == :none, do: "baseline", else: Atom.to_string(b)

          IO.puts(
            :io_lib.format("   ~-10s ~10s ~12.1f ~10.1f ~10.1f ~10.1f", [
              name,
              fmt_int(r.size),
              per.(r, :info_bytes),
              per.(r, :rss_delta),
              per.(r, :beam_delta),
              (r.rss_delta - r.beam_delta) / n
            ])
          )
        end

        e = res.ets
        t = res.tsunami
        IO.puts("")
        IO.puts("   ratio tsunami/ets by info:  #{fmt_ratio(t.info_bytes / e.info_bytes)}")
        IO.puts("   ratio tsunami/ets by RSS:   #{fmt_ratio(t.rss_delta / e.rss_delta)}")

        IO.puts(
          "   ratio tsunami/ets by RSS minus baseline: " <>
            fmt_ratio(
              (t.rss_delta - res.none.rss_delta) / max(e.rss_delta - res.none.rss_delta, 1)
            )
        )

        IO.puts(
          "   (ets info vs :erlang.memory(:ets) in its VM: #{fmt_int(e.info_bytes)} vs #{fmt_int(e.beam_ets)} bytes)"
        )

        IO.puts("")
    end
  end

  # ---------------------------------------------------------------------------------------
  # Latency

  defp latency(cfg) do
    n = cfg.latency_n

    IO.puts(
      "== Insert latency while growing an empty [:set, :public] table to #{fmt_int(n)} objects =="
    )

    IO.puts("   every insert timed alone: monotonic_time(:nanosecond) before and after the call;")

    IO.puts(
      "   keys 1..n in order, object built before the first clock read; the figures include"
    )

    IO.puts("   the timer pair's own cost (line 'timer') and any scheduler/OS preemption.")
    IO.puts("")
    t = Latency.timer_overhead(min(n, 1_000_000))

    IO.puts(
      :io_lib.format("   ~-9s ~9s ~9s ~9s ~9s ~10s ~12s ~9s ~9s ~10s", [
        "",
        "p50",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "max at",
        ">100us",
        ">1ms",
        "ops/s"
      ])
    )

    lat_row("timer", t)

    for {name, b} <- [{"ets", :ets}, {"tsunami", :tsunami}] do
      :erlang.garbage_collect()

      case Latency.grow(b, [:set, :public], n) do
        {:error, reason} -> IO.puts("   #{name}: FAILED: #{inspect(reason)}")
        s -> lat_row(name, s)
      end
    end

    IO.puts("")
  end

  defp lat_row(name, s) do
    ops = if s.wall_ns > 0, do: fmt_ops(s.n / (s.wall_ns / 1.0e9)), else: "-"

    IO.puts(
      :io_lib.format("   ~-9s ~9s ~9s ~9s ~9s ~10s ~12s ~9B ~9B ~10s", [
        name,
        fmt_ns(s.p50),
        fmt_ns(s.p99),
        fmt_ns(s.p999),
        fmt_ns(s.p9999),
        fmt_ns(s.max),
        fmt_int(s.max_at),
        s.over_100us,
        s.over_1ms,
        ops
      ])
    )
  end

  # ---------------------------------------------------------------------------------------
  # Summary

  defp summary(cfg) do
    rows = :ets.tab2list(cfg.results)

    if rows != [] do
      IO.puts("== Summary: Tsunami / ets throughput ratios (geometric mean over keys x procs) ==")

      IO.puts(
        :io_lib.format("   ~-15s ~12s ~12s ~22s", [
          "workload",
          "vs plain",
          "vs conc",
          "range (both)"
        ])
      )

      for w <- cfg.workloads do
        rs = for {^w, _, _, rp, rc} <- rows, do: {rp, rc}
        summary_row(Atom.to_string(w), rs)
      end

      summary_row("ALL", for({_, _, _, rp, rc} <- rows, do: {rp, rc}))

      for k <- cfg.keys, p <- cfg.procs do
        rs = for {_, ^k, ^p, rp, rc} <- rows, do: {rp, rc}
        summary_row("#{fmt_int(k)} keys, #{p}p", rs)
      end

      IO.puts("")
    end
  end

  defp summary_row(_label, []), do: :ok

  defp summary_row(label, rs) do
    ps = Enum.map(rs, &elem(&1, 0))
    cs = Enum.map(rs, &elem(&1, 1))
    all = ps ++ cs

    IO.puts(
      :io_lib.format("   ~-15s ~12s ~12s ~22s", [
        label,
        fmt_ratio(geomean(ps)),
        fmt_ratio(geomean(cs)),
        "#{fmt_ratio(Enum.min(all))} .. #{fmt_ratio(Enum.max(all))}"
      ])
    )
  end

  defp geomean(xs), do: :math.exp(Enum.sum(Enum.map(xs, &:math.log/1)) / length(xs))

  # ---------------------------------------------------------------------------------------
  # Formatting

  defp fmt_ops(x) when x >= 1.0e6, do: "#{:erlang.float_to_binary(x / 1.0e6, decimals: 2)}M"
  defp fmt_ops(x) when x >= 1.0e3, do: "#{:erlang.float_to_binary(x / 1.0e3, decimals: 1)}K"
  defp fmt_ops(x), do: :erlang.float_to_binary(x / 1, decimals: 0)

  defp fmt_ratio(x), do: :erlang.float_to_binary(x / 1, decimals: 2) <> "x"

  defp fmt_ns(nil), do: "-"

  defp fmt_ns(ns) when ns >= 1_000_000,
    do: "#{:erlang.float_to_binary(ns / 1.0e6, decimals: 2)}ms"

  defp fmt_ns(ns) when ns >= 100_000, do: "#{:erlang.float_to_binary(ns / 1.0e3, decimals: 0)}us"
  defp fmt_ns(ns) when ns >= 1_000, do: "#{:erlang.float_to_binary(ns / 1.0e3, decimals: 1)}us"
  defp fmt_ns(ns), do: "#{ns}ns"

  defp fmt_int(n) when n >= 1_000_000 and rem(n, 1_000_000) == 0, do: "#{div(n, 1_000_000)}M"
  defp fmt_int(n) when n >= 1000 and rem(n, 1000) == 0, do: "#{div(n, 1000)}K"
  defp fmt_int(n), do: Integer.to_string(n)
end
