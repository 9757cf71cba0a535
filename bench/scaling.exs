# Scaling: Tsunami next to :ets (both with read/write concurrency) at several scheduler
# counts. Each count runs bench/run.exs in its own VM started with `+S N:N`, with N worker
# processes, and the rows come back through its --csv output. Run with:
#
#     MIX_ENV=bench mix run bench/scaling.exs [--schedulers 1,2,4,8,16]
#         [--only lookup_hit,mixed,update_counter,os_mixed] [--keys 1000000]
#         [--time 0.4] [--reps 3] [--out bench/results]
#
# Default scheduler counts: 1, 2, 4, ... up to this machine's logical CPUs (on a 2-core
# machine, 1 and 2). Prints one table per workload (ops/s of each side and the ratio) and
# writes `scaling.csv` and `scaling.svg` (ops/s per scheduler count, both sides) under
# --out.
{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [
      schedulers: :string,
      only: :string,
      keys: :integer,
      time: :float,
      reps: :integer,
      out: :string
    ]
  )

ints = fn s -> s |> String.split(",", trim: true) |> Enum.map(&String.to_integer/1) end
cpus = :erlang.system_info(:logical_processors_available)
cpus = if is_integer(cpus), do: cpus, else: :erlang.system_info(:schedulers)
default_s = Stream.iterate(1, &(&1 * 2)) |> Enum.take_while(&(&1 <= cpus))
scheds = if s = opts[:schedulers], do: ints.(s), else: default_s
only = opts[:only] || "lookup_hit,mixed,update_counter,os_mixed"
keys = opts[:keys] || 1_000_000
out = opts[:out] || "bench/results"
File.mkdir_p!(out)
csv = Path.join(out, "scaling.csv")
File.rm(csv)

IO.puts(
  "Scaling run: schedulers #{inspect(scheds)}, workloads #{only}, #{keys} keys, " <>
    "#{cpus} logical CPUs, OTP #{System.otp_release()}"
)

for s <- scheds do
  IO.puts("-- +S #{s}:#{s}, #{s} worker process(es)")

  args =
    ["--erl", "+S #{s}:#{s} +SDcpu #{s}:#{s}", "-S", "mix", "run", "bench/run.exs"] ++
      ["--only", only, "--procs", "#{s}", "--keys", "#{keys}", "--csv", csv] ++
      if(t = opts[:time], do: ["--time", "#{t}"], else: []) ++
      if(r = opts[:reps], do: ["--reps", "#{r}"], else: [])

  {_, status} =
    System.cmd("elixir", args,
      env: [{"MIX_ENV", "bench"}],
      into: IO.stream(:stdio, :line),
      stderr_to_stdout: true
    )

  if status != 0, do: raise("the run at +S #{s} failed (exit #{status})")
end

rows =
  csv
  |> File.read!()
  |> String.split("\n", trim: true)
  |> tl()
  |> Enum.map(fn line ->
    [w, k, p, s, tp, tc, ep, ec] = String.split(line, ",")
    nums = Enum.map([k, p, s, tp, tc, ep, ec], &String.to_integer/1)
    List.to_tuple([w | nums])
  end)

fmt = fn v -> :erlang.float_to_binary(v / 1.0e6, decimals: 2) <> "M" end
IO.puts("\n== Scaling (ops/s, read/write concurrency on both sides; ratio = Tsunami / :ets) ==")

for w <- rows |> Enum.map(&elem(&1, 0)) |> Enum.uniq() do
  IO.puts("\n#{w} (#{keys} keys)")
  IO.puts(String.pad_trailing("schedulers", 12) <> "tsunami     ets         ratio")

  for {^w, _k, _p, s, _tp, tc, _ep, ec} <- rows do
    IO.puts(
      String.pad_trailing("#{s}", 12) <>
        String.pad_trailing(fmt.(tc), 12) <>
        String.pad_trailing(fmt.(ec), 12) <> :erlang.float_to_binary(tc / ec, decimals: 2) <> "x"
    )
  end
end

# An SVG with one panel per workload: ops/s against scheduler count, Tsunami solid,
# :ets dashed.
workloads = rows |> Enum.map(&elem(&1, 0)) |> Enum.uniq()
{pw, ph, pad} = {320, 220, 40}

panels =
  workloads
  |> Enum.with_index()
  |> Enum.map(fn {w, i} ->
    pts = for {^w, _k, _p, s, _tp, tc, _ep, ec} <- rows, do: {s, tc, ec}
    top = pts |> Enum.flat_map(fn {_, a, b} -> [a, b] end) |> Enum.max(fn -> 1 end)
    smax = pts |> Enum.map(&elem(&1, 0)) |> Enum.max(fn -> 1 end)
    x = fn s -> pad + (pw - 2 * pad) * :math.log2(s) / max(:math.log2(smax), 1) end
    y = fn v -> ph - pad - (ph - 2 * pad) * v / top end
    line = fn f -> Enum.map_join(pts, " ", fn p -> "#{x.(elem(p, 0))},#{y.(f.(p))}" end) end

    ticks =
      Enum.map_join(pts, "", fn {s, _, _} ->
        "<text x='#{x.(s)}' y='#{ph - pad + 14}' font-size='10' text-anchor='middle'>#{s}</text>"
      end)

    """
    <g transform='translate(#{i * pw},0)'>
      <text x='#{pw / 2}' y='16' font-size='12' text-anchor='middle'>#{w} (max #{fmt.(top)} ops/s)</text>
      <line x1='#{pad}' y1='#{ph - pad}' x2='#{pw - pad}' y2='#{ph - pad}' stroke='#999'/>
      <line x1='#{pad}' y1='#{pad}' x2='#{pad}' y2='#{ph - pad}' stroke='#999'/>
      <polyline fill='none' stroke='#1f77b4' stroke-width='2' points='#{line.(&elem(&1, 1))}'/>
      <polyline fill='none' stroke='#d62728' stroke-width='2' stroke-dasharray='5,3' points='#{line.(&elem(&1, 2))}'/>
      #{ticks}
    </g>
    """
  end)

svg = """
<svg xmlns='http://www.w3.org/2000/svg' width='#{max(length(workloads), 1) * pw}' height='#{ph + 20}' font-family='sans-serif'>
#{Enum.join(panels)}
<text x='10' y='#{ph + 14}' font-size='11'>x: schedulers (+S N, N workers); y: ops/s. Tsunami solid blue, :ets dashed red (both with read/write concurrency).</text>
</svg>
"""

File.write!(Path.join(out, "scaling.svg"), svg)
IO.puts("\nwrote #{csv} and #{Path.join(out, "scaling.svg")}")
