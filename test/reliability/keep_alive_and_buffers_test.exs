defmodule Tsunami.Reliability.KeepAliveAndBuffersTest do
  # Issue #14 item 6: maps nested past the encoder's depth limit are stored in the
  # external format; a resource inside one must still be kept alive while stored. And the
  # per-thread decode stacks must not keep the size of the largest term ever read.
  use ExUnit.Case, async: true
  alias Tsunami.TestSupport

  defp nest(inner, 0), do: inner
  defp nest(inner, n), do: nest(%{n => inner, :pad => n}, n - 1)

  defp in_dead_process(fun) do
    {pid, mref} = spawn_monitor(fun)

    receive do
      {:DOWN, ^mref, :process, ^pid, reason} -> :normal = reason
    end
  end

  for type <- [:set, :ordered_set, :bag] do
    test "an :atomics ref 100 maps deep stays alive in a #{type} table" do
      t = Tsunami.new(:x, [unquote(type), :public])

      in_dead_process(fn ->
        ref = :atomics.new(1, [])
        :atomics.put(ref, 1, 7)
        true = Tsunami.insert(t, {:k, nest(%{ref: ref}, 100)})
      end)

      :erlang.garbage_collect()
      [{:k, deep}] = Tsunami.lookup(t, :k)
      ref = Enum.reduce(1..100, deep, fn n, m -> Map.fetch!(m, n) end).ref
      # A freed magic binary decodes as a plain reference: :atomics.get raises badarg.
      assert :atomics.get(ref, 1) == 7
      Tsunami.delete(t)
    end
  end

  @tag :long
  test "decode stacks shrink back after a 5M-element lookup" do
    n = 5_000_000
    obj = {:k, Enum.to_list(1..n)}
    t = Tsunami.new(:x, [:set, :public])
    e = :ets.new(:x, [:set, :public])
    Tsunami.insert(t, obj)
    :ets.insert(e, obj)

    read = fn mod, tab ->
      in_dead_process(fn ->
        [{:k, l}] = mod.lookup(tab, :k)
        ^n = length(l)
      end)

      :erlang.garbage_collect()
      Process.sleep(200)
      TestSupport.rss()
    end

    # :ets first: whatever the VM keeps of the reader's heap is then already kept.
    _ = read.(:ets, e)
    base = read.(:ets, e)
    after_tsunami = read.(Tsunami, t)
    # Kept stacks would be 8 bytes per element on the reading scheduler: 40 MB.
    assert after_tsunami - base < 20_000_000
  end
end
