defmodule TsunamiBench.SchedMonitor do
  @moduledoc """
  How long each API call holds a normal scheduler, Tsunami next to `:ets`.

  Enables `:erlang.system_monitor(collector, [{:long_schedule, 1}, {:long_gc, 1}])` and
  runs every call in its own fresh process on big tables of each type, so each
  `long_schedule` / `long_gc` report (which names the pid) belongs to exactly one call.
  A call's setup (taking over the table, fixing it, ...) runs in that process first and
  is not counted: the process yields, marks the time, and only reports that arrive after
  the mark count. Each call runs `repeat` times; the minimum of the per-run maxima is
  reported (a 2-core machine shared with other work produces long schedules of its own).

  A report of 0 means no schedule of the call's process took 1 ms or more (the
  monitor's resolution). Work on dirty schedulers and Tsunami's reaper thread does not
  hold a normal scheduler and is not reported, by design.

  Entry script: `bench/sched_monitor.exs`; `measure/2` is also used by
  `test/long_schedule_test.exs`.
  """

  @value "value"

  # --- collecting monitor reports ------------------------------------------------------

  @doc "Starts the collector and makes it the system monitor; returns the collector."
  def start do
    collector = spawn(fn -> collect(%{}) end)
    :erlang.system_monitor(collector, [{:long_schedule, 1}, {:long_gc, 1}])
    collector
  end

  @doc "Stops monitoring."
  def stop(collector) do
    :erlang.system_monitor(:undefined)
    Process.exit(collector, :kill)
    :ok
  end

  defp collect(acc) do
    receive do
      {:monitor, pid, kind, info} when kind in [:long_schedule, :long_gc] ->
        entry = {System.monotonic_time(:microsecond), kind, info[:timeout], where(kind, info)}
        collect(Map.update(acc, pid, [entry], &[entry | &1]))

      {:take, from, pid, since} ->
        mine = acc |> Map.get(pid, []) |> Enum.filter(fn {t, _, _, _} -> t >= since end)
        send(from, {:taken, pid, mine})
        collect(Map.delete(acc, pid))

      _ ->
        collect(acc)
    end
  end

  defp where(:long_schedule, info), do: {info[:in], info[:out]}
  defp where(:long_gc, info), do: {:heap, info[:heap_size]}

  @doc """
  Runs `fun.(setup.())` in a fresh process (`setup` not measured) and returns
  `%{sched: ms, gc: ms, where: {in, out}, result: term}`: the longest schedule and the
  longest GC of that process while it ran `fun`. Options: `:on_spawn` runs in the caller
  with the new pid (to give it a table); when `fun` returns `{:exit_after, r}`, the
  process's own exit is measured too (owner death), and `:after_exit` runs with `r` in
  the caller before the reports are taken (to wait for the table to go).
  """
  def measure(collector, setup, fun, opts \\ []) do
    parent = self()

    {pid, ref} =
      spawn_monitor(fn ->
        state = setup.()
        # End the schedule that ran the setup, so its time is not charged to `fun`.
        :erlang.yield()
        since = System.monotonic_time(:microsecond)
        result = fun.(state)
        send(parent, {:measured, self(), since, result})
      end)

    Keyword.get(opts, :on_spawn, fn _ -> :ok end).(pid)

    {since, result} =
      receive do
        {:measured, ^pid, since, result} -> {since, result}
        {:DOWN, ^ref, _, _, reason} -> raise "measured call died: #{inspect(reason)}"
      end

    receive do
      {:DOWN, ^ref, _, _, _} -> :ok
    end

    result =
      case result do
        {:exit_after, r} -> Keyword.get(opts, :after_exit, fn r -> r end).(r)
        r -> r
      end

    # Reports are sent when a schedule ends: give the last one time to arrive.
    Process.sleep(20)
    send(collector, {:take, self(), pid, since})

    reports =
      receive do
        {:taken, ^pid, reports} -> reports
      end

    longest = fn kind ->
      reports
      |> Enum.filter(&(elem(&1, 1) == kind))
      |> Enum.max_by(&elem(&1, 2), fn -> {0, kind, 0, nil} end)
    end

    {_, _, sched, where} = longest.(:long_schedule)
    {_, _, gc, _} = longest.(:long_gc)
    %{sched: sched, gc: gc, where: where, result: result}
  end

  # --- tables ----------------------------------------------------------------------------

  @doc "Objects of a table of `type` with `n` objects: 3-tuples, `{key, n, \"value\"}`."
  def objects(:set, n), do: Stream.map(1..n, &{&1, &1, @value})
  def objects(:ordered_set, n), do: Stream.map(1..n, &{&1, &1, @value})
  # Bags: four objects per key.
  def objects(_bag, n), do: Stream.map(1..n, &{div(&1 + 3, 4), &1, @value})

  @doc "A new public table of `type` filled with `objects` (inserted 1000 at a time)."
  def table(impl, type, objects) do
    t = impl.new(:sched_monitor, [type, :public])

    objects
    |> Stream.chunk_every(1000)
    |> Enum.each(&impl.insert(t, &1))

    t
  end

  defp keys(:set, n), do: n
  defp keys(:ordered_set, n), do: n
  defp keys(_bag, n), do: div(n + 3, 4)

  # --- the calls -------------------------------------------------------------------------

  @all [{:_, [], [:"$_"]}]
  @all_true [{{:_, :_, :_}, [], [true]}]

  @doc """
  The calls measured on a table of `type`: `{name, kind, fun}`, where kind is `:keep`
  (the table is as good afterwards: run on one table) or `:fresh` (needs its own table).
  `fun` gets `(impl, table, ctx)`; a `:fresh` call may return `{setup, fun}` pairs
  through `{:setup, s, f}` to do untimed work in the measuring process first.
  """
  def calls(type, ctx) do
    n = ctx.n
    k = keys(type, n)
    mid = div(k, 2)
    wide = ctx.wide
    unique = type in [:set, :ordered_set]
    # Arguments are built here, outside the measured calls.
    bound_spec = for key <- 1..ctx.bound, do: {{key, :_, :_}, [], [:"$_"]}
    wide_object = List.to_tuple([:wide | List.duplicate(0, wide)])
    ops = for i <- 2..(wide + 1), do: {i, 1}
    elements = for i <- 2..(wide + 1), do: {i, 1}

    keep = [
      {"lookup/2", fn impl, t -> impl.lookup(t, mid) end},
      {"member/2", fn impl, t -> impl.member(t, mid) end},
      {"insert/2 (one object)", fn impl, t -> impl.insert(t, {n + 1, 0, @value}) end},
      {"delete/2", fn impl, t -> impl.delete(t, n + 1) end},
      {"first/1, next/2", fn impl, t -> impl.next(t, impl.first(t)) end},
      {"last/1, prev/2", fn impl, t -> impl.prev(t, impl.last(t)) end},
      {"slot/2 (middle)", fn impl, t -> impl.slot(t, div(n, 2)) end},
      {"info/1", fn impl, t -> impl.info(t) end},
      {"info/2 :memory", fn impl, t -> impl.info(t, :memory) end},
      {"info/2 :stats", fn impl, t -> impl.info(t, :stats) end},
      {"tab2list/1", fn impl, t -> length(impl.tab2list(t)) end},
      {"select/2 (no limit)", fn impl, t -> length(impl.select(t, @all)) end},
      {"select/3 (limit 1000)", fn impl, t -> elem(impl.select(t, @all, 1000), 0) end},
      {"select_reverse/2", fn impl, t -> length(impl.select_reverse(t, @all)) end},
      {"select_count/2", fn impl, t -> impl.select_count(t, @all_true) end},
      {"match/2", fn impl, t -> length(impl.match(t, {:"$1", :_, :_})) end},
      {"match_object/2", fn impl, t -> length(impl.match_object(t, {:_, :_, :_})) end},
      {"foldl/3", fn impl, t -> impl.foldl(fn _, a -> a + 1 end, 0, t) end},
      {"select/2 (#{ctx.bound} bound keys)",
       fn impl, t -> length(impl.select(t, bound_spec)) end},
      {"rename/2", fn impl, t -> impl.rename(t, :sched_monitor_renamed) end}
    ]

    keep_unique =
      if unique do
        [
          {"insert/2 (one #{wide}-element object)",
           fn impl, t -> impl.insert(t, wide_object) end},
          {"update_counter/3 (#{wide} ops)",
           fn impl, t -> length(impl.update_counter(t, :wide, ops)) end},
          {"update_element/3 (#{wide} ops)",
           fn impl, t -> impl.update_element(t, :wide, elements) end},
          {"select_replace/2",
           fn impl, t ->
             impl.select_replace(t, [
               {{:"$1", :"$2", :_}, [{:is_integer, :"$2"}], [{{:"$1", :"$2", @value}}]}
             ])
           end}
        ]
      else
        []
      end

    fresh = [
      {"give_away/3", :give_away},
      {"owner death", :owner_death},
      {"safe_fixtable(false) after deleting all", :unfix_sweep},
      {"match_delete/2 (all)", fn impl, t -> impl.match_delete(t, {:_, :_, :_}) end},
      {"select_delete/2 (all)", fn impl, t -> impl.select_delete(t, @all_true) end},
      {"delete_all_objects/1", fn impl, t -> impl.delete_all_objects(t) end},
      {"delete/1", fn impl, t -> impl.delete(t) end}
    ]

    Enum.map(keep ++ keep_unique, fn {name, f} -> {name, :keep, f} end) ++
      Enum.map(fresh, fn {name, f} -> {name, :fresh, f} end) ++
      [{"insert/2 (#{n}-object list, new table)", :new_table, :insert_list}]
  end

  # --- running ---------------------------------------------------------------------------

  @doc """
  Measures every call of `calls/2` for each type, Tsunami and `:ets`. Returns rows
  `%{name, type, tsunami: m, ets: m}` with `m` the measurement of `measure/4`
  (min over `ctx.repeat` runs).
  """
  def run(collector, ctx) do
    for type <- ctx.types, row <- run_type(collector, type, ctx), do: row
  end

  defp run_type(collector, type, ctx) do
    calls = calls(type, ctx) |> Enum.filter(&selected?(&1, ctx))

    by_impl =
      for impl <- [Tsunami, :ets], into: %{} do
        progress("#{inspect(impl)} #{type}: #{ctx.n} objects")
        {impl, run_impl(collector, impl, type, calls, ctx)}
      end

    for {name, _, _} <- calls do
      %{name: name, type: type, tsunami: by_impl[Tsunami][name], ets: by_impl[:ets][name]}
    end
  end

  defp selected?({name, _, _}, %{only: only}) when is_list(only),
    do: Enum.any?(only, &String.contains?(name, &1))

  defp selected?(_, _), do: true

  defp run_impl(collector, impl, type, calls, ctx) do
    objects = objects(type, ctx.n)
    {keep, fresh} = Enum.split_with(calls, fn {_, kind, _} -> kind == :keep end)

    shared = if keep == [], do: nil, else: table(impl, type, objects)

    kept =
      for {name, :keep, f} <- keep, into: %{} do
        progress("  #{name}")
        {name, best(ctx.repeat, fn -> measure(collector, fn -> shared end, &f.(impl, &1)) end)}
      end

    if shared, do: impl.delete(shared)

    fresh =
      for {name, kind, f} <- fresh, into: %{} do
        progress("  #{name}")

        {name,
         best(ctx.repeat, fn ->
           fresh_call(collector, impl, kind, f, fn -> table(impl, type, objects) end, objects)
         end)}
      end

    Map.merge(kept, fresh)
  end

  defp best(repeat, run) do
    1..repeat
    |> Enum.map(fn _ -> run.() end)
    |> Enum.min_by(& &1.sched)
  end

  defp fresh_call(collector, impl, :new_table, :insert_list, _new, objects) do
    list = Enum.to_list(objects)

    measure(collector, fn -> list end, fn list ->
      t = impl.new(:sched_monitor_list, [:public])
      impl.insert(t, list)
      impl.delete(t)
    end)
  end

  defp fresh_call(collector, impl, :fresh, :give_away, new, _objects) do
    t = new.()
    me = self()

    m =
      measure(collector, fn -> taken(t) end, fn t -> impl.give_away(t, me, :back) end,
        on_spawn: &impl.give_away(t, &1, :handoff)
      )

    receive do
      {:"ETS-TRANSFER", _, _, :back} -> :ok
    after
      60_000 -> raise "give_away: no transfer back"
    end

    impl.delete(t)
    m
  end

  defp fresh_call(collector, impl, :fresh, :owner_death, new, _objects) do
    t = new.()

    measure(collector, fn -> taken(t) end, fn t -> {:exit_after, t} end,
      on_spawn: &impl.give_away(t, &1, :handoff),
      after_exit: &wait_gone(impl, &1)
    )
  end

  defp fresh_call(collector, impl, :fresh, :unfix_sweep, new, _objects) do
    t = new.()

    m =
      measure(
        collector,
        fn ->
          impl.safe_fixtable(t, true)
          impl.match_delete(t, {:_, :_, :_})
          t
        end,
        fn t -> impl.safe_fixtable(t, false) end
      )

    impl.delete(t)
    m
  end

  defp fresh_call(collector, impl, :fresh, f, new, _objects) do
    t = new.()
    m = measure(collector, fn -> t end, &f.(impl, &1))
    if impl.info(t) != :undefined, do: impl.delete(t)
    m
  end

  # In the measuring process: wait for the table the caller gives it.
  defp taken(t) do
    receive do
      {:"ETS-TRANSFER", ^t, _, :handoff} -> t
    after
      60_000 -> raise "no transfer"
    end
  end

  defp wait_gone(impl, t) do
    if impl.info(t) == :undefined do
      :ok
    else
      Process.sleep(1)
      wait_gone(impl, t)
    end
  end

  defp progress(line), do: IO.puts(:stderr, line)

  # --- report ----------------------------------------------------------------------------

  @doc "Prints the table; returns the rows where Tsunami held a scheduler over `limit` ms."
  def report(rows, limit) do
    header = [
      "function",
      "table type",
      "Tsunami max hold (ms)",
      ":ets max hold (ms)",
      "Tsunami GC (ms)",
      ":ets GC (ms)"
    ]

    lines =
      for r <- rows do
        [
          r.name,
          Atom.to_string(r.type),
          ms(r.tsunami.sched),
          ms(r.ets.sched),
          ms(r.tsunami.gc),
          ms(r.ets.gc)
        ]
      end

    widths =
      Enum.reduce([header | lines], List.duplicate(0, length(header)), fn line, w ->
        Enum.zip_with(line, w, &max(String.length(&1), &2))
      end)

    print = fn line ->
      line
      |> Enum.zip(widths)
      |> Enum.map_join(" | ", fn {s, w} -> String.pad_trailing(s, w) end)
      |> IO.puts()
    end

    print.(header)
    IO.puts(Enum.map_join(widths, "-|-", &String.duplicate("-", &1)))
    Enum.each(lines, print)

    over = Enum.filter(rows, &(&1.tsunami.sched > limit))

    if over != [] do
      IO.puts("\nTsunami calls over #{limit} ms (where the longest schedule began/ended):")

      for r <- over do
        IO.puts("  #{r.name} (#{r.type}): #{r.tsunami.sched} ms #{inspect(r.tsunami.where)}")
      end
    end

    over
  end

  defp ms(0), do: "<1"
  defp ms(n), do: Integer.to_string(n)
end
