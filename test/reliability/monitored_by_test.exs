defmodule Tsunami.Reliability.MonitoredByTest do
  # Found this session (issue #14): a process that created and deleted 20,000 tables,
  # slept 50 ms and read `Process.info(self(), :monitored_by)` took the VM down when it
  # exited (OTP 25.2.3, every run; child exit status 134):
  #
  #     ../include/internal/ethr_mutex.h:657: Fatal error in ethr_mutex_lock(): Invalid argument (22)
  #
  # Each table monitored its owner from its own resource and delete/1 demonitored it; the
  # resource could be freed while the owner still held its half of the monitor. Processes
  # are now watched through one long-lived monitor each (native/tsunami_nif/src/watch.rs),
  # never from a table resource. The crash kills the VM, so it runs in child VMs.
  use ExUnit.Case, async: false
  alias Tsunami.TestSupport

  test "process_info(monitored_by) after 20,000 create/delete cycles does not crash the VM" do
    script = """
    for(_ <- 1..20_000, do: Tsunami.delete(Tsunami.new(:a, [:public])))
    heir = spawn(fn -> Process.sleep(:infinity) end)

    for _ <- 1..5_000 do
      t = Tsunami.new(:b, [:public, {:heir, heir, :x}])
      Tsunami.safe_fixtable(t, true)
      Tsunami.delete(t)
    end

    Process.sleep(50)
    {:monitored_by, _} = Process.info(self(), :monitored_by)
    IO.puts("survived")
    """

    file =
      Path.join(
        System.tmp_dir!(),
        "tsunami_monitored_by_#{System.unique_integer([:positive])}.exs"
      )

    File.write!(file, script)
    paths = Enum.flat_map(:code.get_path(), &["-pa", to_string(&1)])

    # The abort comes at the child's exit (status 134), in most runs: try three times.
    for _ <- 1..3 do
      {out, status} = System.cmd("elixir", paths ++ [file], stderr_to_stdout: true)
      assert status == 0 and out =~ "survived", "child VM: exit #{status}\n#{out}"
    end
  end

  test "a process is watched once, however many tables it owns, fixes or inherits" do
    {:monitored_by, before} = Process.info(self(), :monitored_by)
    heir = spawn(fn -> Process.sleep(:infinity) end)

    tables =
      for _ <- 1..200 do
        t = Tsunami.new(:w, [:public, {:heir, heir, :x}])
        Tsunami.safe_fixtable(t, true)
        t
      end

    {:monitored_by, during} = Process.info(self(), :monitored_by)
    assert length(during) <= length(before) + 1
    {:monitored_by, heir_watchers} = Process.info(heir, :monitored_by)
    assert length(heir_watchers) == 1

    # The watches still work: the heir inherits every table when this process's
    # stand-in owner dies.
    owner = spawn(fn -> receive(do: (:go -> :ok)) end)
    for t <- tables, do: Tsunami.give_away(t, owner, :gift)
    ref = Process.monitor(owner)
    send(owner, :go)
    assert_receive {:DOWN, ^ref, :process, ^owner, :normal}

    assert TestSupport.wait_until(fn -> Enum.all?(tables, &(Tsunami.info(&1, :owner) == heir)) end)

    for t <- tables, do: Tsunami.delete(t)
    Process.exit(heir, :kill)
  end

  # More tables than the watch's `down` callback handles inline (64): the rest are handed
  # on or deleted from the reaper thread, with the same results.
  test "an owner of 5,000 tables exits: each goes to its heir, or is deleted" do
    parent = self()
    heir = spawn(fn -> heir_loop(parent, 0) end)

    owner =
      spawn(fn ->
        tables =
          for i <- 1..5_000 do
            opts = if rem(i, 2) == 0, do: [:public, {:heir, heir, i}], else: [:public]
            t = Tsunami.new(:many, opts)
            Tsunami.insert(t, {i, i})
            {i, t}
          end

        send(parent, {:made, tables})
        receive(do: (:stop -> :ok))
      end)

    assert_receive {:made, tables}, 30_000
    send(owner, :stop)
    # Nothing here may look the tables up through all/0, info/2 or whereis/1 until the
    # exit was handled: those settle a dead owner's tables themselves.
    assert_receive {:inherited, 2_500}, 30_000

    gone? = fn t ->
      try do
        Tsunami.lookup(t, 0) && false
      rescue
        ArgumentError -> true
      end
    end

    {given, deleted} = Enum.split_with(tables, fn {i, _} -> rem(i, 2) == 0 end)
    assert TestSupport.wait_until(fn -> Enum.all?(deleted, fn {_, t} -> gone?.(t) end) end)

    for {i, t} <- given do
      assert Tsunami.lookup(t, i) == [{i, i}]
      assert Tsunami.info(t, :owner) == heir
    end

    Process.exit(heir, :kill)
    assert TestSupport.wait_until(fn -> Enum.all?(given, fn {_, t} -> gone?.(t) end) end)
  end

  defp heir_loop(parent, n) do
    receive do
      {:"ETS-TRANSFER", _t, _from, i} when rem(i, 2) == 0 ->
        if n + 1 == 2_500, do: send(parent, {:inherited, n + 1})
        heir_loop(parent, n + 1)
    end
  end
end
