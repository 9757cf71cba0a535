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
end
