# tsunami_copies vs ram_copies under mnesia, one node, same run. Run with:
#
#     MIX_ENV=bench mix run bench/mnesia.exs [--quick] [--time S] [--keys N] [--procs 1,2]
#
# For each table type (set, ordered_set) and workload, the same compiled loop runs
# against a ram_copies table and a tsunami_copies table of the same definition (an
# index on one attribute, as most real tables have), alternating which goes first,
# `--reps` times; the median ops/s of each and their ratio (tsunami / ram) are printed.
# Workloads:
#   dirty_read     :mnesia.dirty_read of a present key
#   dirty_write    :mnesia.dirty_write of an existing key (the index is updated)
#   dirty_counter  :mnesia.dirty_update_counter on a counter table
#   tx_read        a transaction reading one key
#   tx_write       a transaction writing one record
#   tx_rmw         a transaction reading a key with a write lock and writing it back
#   dirty_select   :mnesia.dirty_select of a 10-key range (ordered_set: a key-range walk)
defmodule MnesiaBench do
  @moduledoc false

  def main(argv) do
    {opts, _, _} =
      OptionParser.parse(argv,
        strict: [quick: :boolean, time: :float, keys: :integer, procs: :string, reps: :integer]
      )

    quick = opts[:quick] || false
    time = opts[:time] || if(quick, do: 0.05, else: 0.5)
    keys = opts[:keys] || if(quick, do: 1_000, else: 10_000)
    reps = opts[:reps] || if(quick, do: 1, else: 3)
    procs = (opts[:procs] || "1,2") |> String.split(",") |> Enum.map(&String.to_integer/1)

    start_mnesia()
    header(time, keys, reps)

    IO.puts(
      String.pad_trailing("type / workload", 28) <>
        Enum.map_join(procs, "", &String.pad_leading("p=#{&1} ram  tsunami  ratio", 34))
    )

    for type <- [:set, :ordered_set] do
      {ram, tsu} = tables(type, keys)

      for w <- [
            :dirty_read,
            :dirty_write,
            :dirty_counter,
            :tx_read,
            :tx_write,
            :tx_rmw,
            :dirty_select
          ] do
        cells =
          for p <- procs do
            {r, t} = measure(w, ram, tsu, keys, p, time, reps)

            :io_lib.format("~12w ~9w ~7.2f", [round(r), round(t), t / r])
            |> to_string()
            |> String.pad_leading(34)
          end

        IO.puts(String.pad_trailing("#{type} / #{w}", 28) <> Enum.join(cells))
      end
    end
  end

  defp start_mnesia do
    dir =
      Path.join(System.tmp_dir!(), "tsunami_mnesia_bench_#{System.unique_integer([:positive])}")

    :ok = :application.set_env(:mnesia, :dir, String.to_charlist(dir))
    :ok = :mnesia.start()
    {:atomic, :ok} = :mnesia.add_backend_type(:tsunami_copies, Tsunami.Mnesia)
  end

  defp header(time, keys, reps) do
    {load, _} = System.cmd("cat", ["/proc/loadavg"])
    {rev, _} = System.cmd("git", ["describe", "--always", "--dirty"], stderr_to_stdout: true)

    IO.puts("""
    mnesia bench: tsunami_copies vs ram_copies, 1 node; ops/s (median of #{reps}), #{time} s per run, #{keys} keys
    OTP #{:erlang.system_info(:otp_release)}, mnesia #{Application.spec(:mnesia, :vsn)}, schedulers #{:erlang.system_info(:schedulers_online)}, load #{String.trim(load)}, source #{String.trim(rev)}
    """)
  end

  defp tables(type, keys) do
    for storage <- [:ram_copies, :tsunami_copies] do
      name = :"bench_#{type}_#{storage}"
      cnt = :"bench_cnt_#{type}_#{storage}"

      {:atomic, :ok} =
        :mnesia.create_table(name, [
          {storage, [node()]},
          {:type, type},
          {:attributes, [:k, :v, :w]},
          {:record_name, :rec},
          {:index, [:w]}
        ])

      {:atomic, :ok} =
        :mnesia.create_table(cnt, [
          {storage, [node()]},
          {:type, type},
          {:attributes, [:k, :n]},
          {:record_name, :cnt}
        ])

      for k <- 0..(keys - 1) do
        :ok = :mnesia.dirty_write(name, {:rec, k, k, rem(k, 100)})
        :ok = :mnesia.dirty_write(cnt, {:cnt, k, 0})
      end

      {name, cnt}
    end
    |> List.to_tuple()
  end

  defp measure(w, ram, tsu, keys, p, time, reps) do
    runs =
      for rep <- 1..reps do
        order = if rem(rep, 2) == 1, do: [ram, tsu], else: [tsu, ram]
        res = Map.new(order, fn tab -> {tab, run(w, tab, keys, p, time)} end)
        {res[ram], res[tsu]}
      end

    {median(Enum.map(runs, &elem(&1, 0))), median(Enum.map(runs, &elem(&1, 1)))}
  end

  defp median(xs), do: Enum.at(Enum.sort(xs), div(length(xs), 2))

  # p workers run the loop for `time` seconds after a quarter of that as warm-up.
  defp run(w, {tab, cnt}, keys, p, time) do
    parent = self()
    ms = round(time * 1000)

    pids =
      for i <- 1..p do
        spawn_link(fn ->
          :rand.seed(:exsss, {i, 7, 11})
          send(parent, {:ready, self()})
          receive do: (:go -> :ok)
          deadline = System.monotonic_time(:millisecond) + ms
          n = loop(w, tab, cnt, keys, deadline, 0)
          send(parent, {:done, self(), n})
        end)
      end

    for pid <- pids, do: receive(do: ({:ready, ^pid} -> :ok))
    warm(w, tab, cnt, keys, System.monotonic_time(:millisecond) + div(ms, 4))
    for pid <- pids, do: send(pid, :go)
    total = Enum.sum(for pid <- pids, do: receive(do: ({:done, ^pid, n} -> n)))
    total / time
  end

  defp warm(w, tab, cnt, keys, deadline), do: loop(w, tab, cnt, keys, deadline, 0)

  # Checks the clock every 64 operations.
  defp loop(w, tab, cnt, keys, deadline, n) do
    batch(w, tab, cnt, keys, 64)

    if System.monotonic_time(:millisecond) < deadline,
      do: loop(w, tab, cnt, keys, deadline, n + 64),
      else: n + 64
  end

  defp batch(_w, _tab, _cnt, _keys, 0), do: :ok

  defp batch(w, tab, cnt, keys, i) do
    op(w, tab, cnt, :rand.uniform(keys) - 1)
    batch(w, tab, cnt, keys, i - 1)
  end

  defp op(:dirty_read, tab, _cnt, k), do: [_] = :mnesia.dirty_read(tab, k)

  defp op(:dirty_write, tab, _cnt, k),
    do: :ok = :mnesia.dirty_write(tab, {:rec, k, k + 1, rem(k, 100)})

  defp op(:dirty_counter, _tab, cnt, k), do: :mnesia.dirty_update_counter(cnt, k, 1)

  defp op(:tx_read, tab, _cnt, k),
    do: {:atomic, [_]} = :mnesia.transaction(fn -> :mnesia.read(tab, k) end)

  defp op(:tx_write, tab, _cnt, k),
    do:
      {:atomic, :ok} =
        :mnesia.transaction(fn -> :mnesia.write(tab, {:rec, k, k, rem(k, 100)}, :write) end)

  defp op(:tx_rmw, tab, _cnt, k) do
    {:atomic, :ok} =
      :mnesia.transaction(fn ->
        [{:rec, ^k, v, w}] = :mnesia.read(tab, k, :write)
        :mnesia.write(tab, {:rec, k, v + 1, w}, :write)
      end)
  end

  defp op(:dirty_select, tab, _cnt, k) do
    :mnesia.dirty_select(tab, [
      {{:rec, :"$1", :_, :_}, [{:>=, :"$1", k}, {:<, :"$1", k + 10}], [:"$_"]}
    ])
  end
end

MnesiaBench.main(System.argv())
