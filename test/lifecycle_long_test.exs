defmodule Tsunami.LifecycleLongTest do
  # Long lifecycle checks (run with `scripts/stress.sh` or `mix test --only long`):
  # no leak when owners die, kill safety of long operations.
  use ExUnit.Case, async: false

  @moduletag :long
  @moduletag timeout: 600_000

  defp rss_kb do
    "/proc/self/status"
    |> File.read!()
    |> then(&Regex.run(~r/VmRSS:\s+(\d+)/, &1))
    |> then(fn [_, kb] -> String.to_integer(kb) end)
  end

  defp churn(n) do
    parent = self()

    for _ <- 1..n do
      pid =
        spawn(fn ->
          t = Tsunami.new(:churn, [:public])
          Tsunami.insert(t, for(i <- 1..10, do: {i, "value"}))
          send(parent, :made)
        end)

      receive do: (:made -> :ok)
      ref = Process.monitor(pid)
      receive do: ({:DOWN, ^ref, _, _, _} -> :ok)
    end
  end

  test "10^5 tables abandoned through owner death return memory to baseline" do
    before_tables = length(Tsunami.all())
    churn(10_000)
    :erlang.garbage_collect()
    Process.sleep(200)
    baseline = rss_kb()
    churn(100_000)
    :erlang.garbage_collect()
    Process.sleep(500)
    after_kb = rss_kb()
    IO.puts("RSS after 10^4 warm-up: #{baseline} KB, after 10^5 more: #{after_kb} KB")
    assert length(Tsunami.all()) == before_tables
    # 10^5 leaked tables of ~10 KB each would be ~1 GB; allow allocator noise.
    assert after_kb - baseline < 64 * 1024
  end

  test "a process killed inside a huge list insert leaves all or nothing" do
    for _ <- 1..5 do
      t = Tsunami.new(:kill_insert, [:public])
      objects = for i <- 1..500_000, do: {i, i}
      pid = spawn(fn -> Tsunami.insert(t, objects) end)
      Process.sleep(Enum.random(0..30))
      Process.exit(pid, :kill)
      Process.sleep(100)
      assert Tsunami.info(t, :size) in [0, 500_000]
      Tsunami.delete(t)
    end
  end

  test "delete/1 of a huge table completes and frees memory even if the caller is killed" do
    t = Tsunami.new(:kill_delete, [:public])
    Tsunami.insert(t, for(i <- 1..1_000_000, do: {i, "some value #{i}"}))
    grown = rss_kb()
    me = self()

    pid =
      spawn(fn ->
        send(me, :deleting)
        Tsunami.delete(t)
        Process.sleep(:infinity)
      end)

    # Killed as soon as it starts deleting: the NIF call, once entered, completes, and
    # the freeing happens off the caller's path anyway.
    receive do: (:deleting -> Process.exit(pid, :kill))
    Process.sleep(1500)
    assert Tsunami.info(t) == :undefined
    :erlang.garbage_collect()
    IO.puts("RSS with 1M objects: #{grown} KB, after delete: #{rss_kb()} KB")
    assert rss_kb() < grown
  end
end
