# Scheduler monitor: how long each API call holds a normal scheduler, Tsunami next to
# :ets, on big tables of each type (see TsunamiBench.SchedMonitor). Run with:
#
#     MIX_ENV=bench mix run bench/sched_monitor.exs [--quick] [--n N] [--repeat R]
#         [--types set,bag] [--only tab2list,slot] [--check]
#
# --quick: 50K-object tables (the smoke run in scripts/test.sh); default 1M objects
# (scripts/stress.sh). --check exits non-zero if a Tsunami call held a scheduler for more
# than --limit ms (default 1) and longer than :ets did for the same call.
alias TsunamiBench.SchedMonitor

{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [
      quick: :boolean,
      n: :integer,
      repeat: :integer,
      types: :string,
      only: :string,
      check: :boolean,
      limit: :integer,
      wide: :integer,
      bound: :integer
    ]
  )

quick = Keyword.get(opts, :quick, false)
n = Keyword.get(opts, :n, if(quick, do: 50_000, else: 1_000_000))

ctx = %{
  n: n,
  repeat: Keyword.get(opts, :repeat, if(quick, do: 2, else: 1)),
  wide: Keyword.get(opts, :wide, if(quick, do: 10_000, else: 100_000)),
  bound: Keyword.get(opts, :bound, min(100_000, div(n, 10))),
  types:
    opts
    |> Keyword.get(:types, "set,bag,duplicate_bag,ordered_set")
    |> String.split(",")
    |> Enum.map(&String.to_atom/1),
  only: if(o = opts[:only], do: String.split(o, ","), else: nil)
}

limit = Keyword.get(opts, :limit, 1)

IO.puts(
  "Scheduler monitor: #{n} objects per table, #{ctx.repeat} run(s) per call (min of max), " <>
    "OTP #{System.otp_release()}, #{System.schedulers_online()} schedulers, " <>
    "load #{:erlang.statistics(:run_queue)} run queue"
)

collector = SchedMonitor.start()
rows = SchedMonitor.run(collector, ctx)
SchedMonitor.stop(collector)
over = SchedMonitor.report(rows, limit)

failing = Enum.filter(over, &(&1.tsunami.sched > &1.ets.sched))

if Keyword.get(opts, :check, false) and failing != [] do
  IO.puts("\n#{length(failing)} Tsunami call(s) over #{limit} ms and longer than :ets")
  System.halt(1)
end
