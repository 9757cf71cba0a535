defmodule Tsunami.SoakTest do
  # Issue #14 soak runs. The default run is short; `TSUNAMI_SOAK=long` (scripts/stress.sh)
  # runs the full counts: 10^5 owner deaths of populated tables with and without a heir,
  # 10^6 create/delete cycles of named tables, and a kill storm of writers killed in the
  # middle of 10,000-object list inserts. Each prints its figures.
  #
  # async: false: RSS is the whole VM's, so nothing else may run beside these.
  use ExUnit.Case, async: false
  alias Tsunami.TestSupport

  @long System.get_env("TSUNAMI_SOAK") == "long"
  @owner_deaths if @long, do: 100_000, else: 2_000
  @named_cycles if @long, do: 1_000_000, else: 20_000
  @storm_writers if @long, do: 500, else: 100

  @moduletag timeout: if(@long, do: 3_600_000, else: 120_000)

  # Settles the VM's and the reaper's frees, then reads RSS.
  defp settled_rss do
    for _ <- 1..3 do
      for p <- Process.list(), do: :erlang.garbage_collect(p)
      Process.sleep(100)
    end

    TestSupport.rss()
  end

  defp heir_loop do
    receive do
      {:"ETS-TRANSFER", t, _from, _} ->
        true = Tsunami.delete(t)
        heir_loop()

      {:count, from} ->
        send(from, :counted)
        heir_loop()
    end
  end

  defp owner_deaths(n, heir) do
    parent = self()

    Enum.each(1..n, fn i ->
      {pid, ref} =
        spawn_monitor(fn ->
          opts = if heir, do: [:set, :public, {:heir, heir, i}], else: [:set, :public]
          t = Tsunami.new(:soak, opts)
          Tsunami.insert(t, for(k <- 1..100, do: {k, "value #{k}", [k, k * 2]}))
          send(parent, {:made, self()})
        end)

      receive do: ({:made, ^pid} -> :ok)
      receive do: ({:DOWN, ^ref, :process, ^pid, :normal} -> :ok)
    end)

    # The heir has dealt with every transfer once it answers.
    if heir do
      send(heir, {:count, self()})
      receive do: (:counted -> :ok)
    end

    :ok
  end

  test "owner deaths of populated tables, with and without heir: memory comes back" do
    heir = spawn_link(&heir_loop/0)
    tables = length(Tsunami.all())
    # Warm-up: the VM's allocators and the reaper reach their working size.
    owner_deaths(div(@owner_deaths, 10), nil)
    owner_deaths(div(@owner_deaths, 10), heir)
    base = settled_rss()
    {us, :ok} = :timer.tc(fn -> owner_deaths(@owner_deaths, nil) end)
    {us_heir, :ok} = :timer.tc(fn -> owner_deaths(@owner_deaths, heir) end)
    after_rss = settled_rss()
    assert length(Tsunami.all()) == tables

    IO.puts(
      "soak: #{@owner_deaths} owner deaths without heir in #{div(us, 1000)} ms, " <>
        "#{@owner_deaths} with heir in #{div(us_heir, 1000)} ms; RSS #{div(base, 1024)} KiB -> " <>
        "#{div(after_rss, 1024)} KiB (#{Float.round((after_rss - base) * 100 / base, 2)}%)"
    )

    # The issue's bound, 5%, for the long run; a short run's RSS moves more than that
    # with the VM's own allocator noise.
    assert after_rss <= base * if(@long, do: 1.05, else: 1.15)
  end

  test "create/delete cycles of named tables leave nothing behind" do
    tables = length(Tsunami.all())
    # RSS is printed, not asserted: a burst of cycles sets a high-water mark (the
    # allocator keeps what a burst freed; about 11 KB per cycle of a burst, the same
    # before this issue's changes, and it varies from run to run).
    burst = min(@named_cycles, 20_000)
    for i <- 1..burst, do: cycle(i)
    base = settled_rss()

    {us, _} =
      :timer.tc(fn ->
        for b <- 1..div(@named_cycles, burst) do
          for i <- 1..burst, do: cycle(b * burst + i)
          :erlang.garbage_collect()
        end
      end)

    after_rss = settled_rss()
    assert length(Tsunami.all()) == tables
    # A name is free again after each cycle; a few stay in use to keep the map busy.
    assert Tsunami.whereis(:"soak_named_#{rem(@named_cycles, 1000)}") == :undefined

    IO.puts(
      "soak: #{@named_cycles} named create/delete cycles in #{div(us, 1000)} ms; " <>
        "RSS #{div(base, 1024)} KiB -> #{div(after_rss, 1024)} KiB"
    )
  end

  defp cycle(i) do
    name = :"soak_named_#{rem(i, 1000)}"
    ^name = Tsunami.new(name, [:named_table, :public])
    true = Tsunami.insert(name, {i, i})
    true = Tsunami.delete(name)
  end

  test "kill storm: writers killed mid insert/2 of 10,000-object lists; each list all or nothing" do
    for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
      t = Tsunami.new(:storm, [type, :public, {:write_concurrency, true}])
      e = :ets.new(:storm, [type, :public, {:write_concurrency, true}])

      for {mod, tab} <- [{Tsunami, t}, {:ets, e}] do
        writers =
          for w <- 1..@storm_writers do
            parent = self()

            {pid, ref} =
              spawn_monitor(fn ->
                objs = for i <- 1..10_000, do: {{w, i}, w}
                send(parent, {:ready, self()})
                mod.insert(tab, objs)
              end)

            receive do: ({:ready, ^pid} -> :ok)
            # Kill at a spread of moments: before, during and after the insert.
            TestSupport.spin(rem(w * 7919, 200_000))
            Process.exit(pid, :kill)
            # A kill lands between calls: an insert already running finishes first (a
            # dirty NIF cannot be interrupted), and DOWN comes after it.
            receive do: ({:DOWN, ^ref, :process, ^pid, _} -> :ok)
            w
          end

        counts = mod.foldl(fn {{w, _}, _}, acc -> Map.update(acc, w, 1, &(&1 + 1)) end, %{}, tab)
        sizes = Enum.frequencies_by(writers, &Map.get(counts, &1, 0))

        assert Map.keys(sizes) -- [0, 10_000] == [],
               "#{inspect(mod)} #{type}: partial lists #{inspect(sizes)}"

        IO.puts("soak: kill storm #{inspect(mod)} #{type}: lists by size #{inspect(sizes)}")
      end

      Tsunami.delete(t)
      :ets.delete(e)
    end
  end
end
