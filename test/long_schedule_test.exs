defmodule Tsunami.LongScheduleTest do
  @moduledoc """
  No Tsunami NIF may hold a normal scheduler for long, even on a 1M-object table:
  `tab2list`, `delete_all_objects`, `delete/1` and a long list insert are watched with
  `:erlang.system_monitor(_, [{:long_schedule, N}])`. Only reports that point at a
  `Tsunami.Native` function count (other things can cause long schedules on a small VM);
  the `*_dirty` variants run on dirty schedulers by design and are allowed.

  Tagged `:long` (excluded by default): `mix test --include long`.
  """
  use ExUnit.Case, async: false

  @moduletag :long
  @moduletag timeout: 300_000

  @n 1_000_000
  # ms a NIF call may keep a normal scheduler
  @limit_ms 5

  defp with_monitor(fun) do
    me = self()
    collector = spawn(fn -> collect(me, []) end)
    previous = :erlang.system_monitor(collector, [{:long_schedule, 2}])

    try do
      fun.()
    after
      :erlang.system_monitor(previous || :undefined)
      send(collector, {:done, me})
    end

    receive do
      {:long_schedules, msgs} -> msgs
    end
  end

  defp collect(parent, acc) do
    receive do
      {:monitor, _who, :long_schedule, info} -> collect(parent, [info | acc])
      {:done, ^parent} -> send(parent, {:long_schedules, Enum.reverse(acc)})
    end
  end

  defp tsunami_nif?({Tsunami.Native, fun, _arity}),
    do: not String.ends_with?(Atom.to_string(fun), "_dirty")

  defp tsunami_nif?(_), do: false

  defp offending(msgs) do
    Enum.filter(msgs, fn info ->
      (tsunami_nif?(info[:in]) or tsunami_nif?(info[:out])) and info[:timeout] > @limit_ms
    end)
  end

  defp fill(t) do
    for chunk <- Enum.chunk_every(1..@n, 1000) do
      Tsunami.insert(t, Enum.map(chunk, &{&1, &1, "value"}))
    end

    assert Tsunami.info(t, :size) == @n
  end

  test "tab2list, delete_all_objects, delete/1 and a long list insert on 1M objects" do
    t = Tsunami.new(:long_sched, [:public])
    fill(t)

    msgs =
      with_monitor(fn ->
        assert length(Tsunami.tab2list(t)) == @n
        assert Tsunami.delete_all_objects(t)
        assert Tsunami.info(t, :size) == 0
        assert Tsunami.insert(t, Enum.map(1..@n, &{&1, &1}))
        assert Tsunami.info(t, :size) == @n
        assert Tsunami.insert_new(t, Enum.map((@n + 1)..(2 * @n), &{&1}))
        assert Tsunami.delete(t)
      end)

    assert offending(msgs) == [], inspect(msgs, limit: :infinity)
  end

  test "owner exit of a 1M-object table does not block a scheduler" do
    parent = self()

    msgs =
      with_monitor(fn ->
        pid =
          spawn(fn ->
            t = Tsunami.new(:long_owner, [:public])
            fill(t)
            send(parent, {:filled, t})

            receive do
              :exit -> :ok
            end
          end)

        t =
          receive do
            {:filled, t} -> t
          end

        ref = Process.monitor(pid)
        send(pid, :exit)
        assert_receive {:DOWN, ^ref, _, _, _}, 60_000
        wait = fn w -> if Tsunami.info(t) == :undefined, do: :ok, else: w.(w) end
        wait.(wait)
      end)

    assert offending(msgs) == [], inspect(msgs, limit: :infinity)
  end
end
