defmodule Tsunami.Reliability.UpdateElementPinTest do
  # Issue #14 item 1: every update_element that writes a reference used to wrap the
  # object's previous keep-alive in a new box; nothing was released, and dropping the
  # object recursed once per update until the native stack overflowed (a segfault).
  # async: false: the memory check reads the VM-wide total.
  use ExUnit.Case, async: false

  test "200,000 update_element calls writing refs, then delete: no crash, refs alive" do
    t = Tsunami.new(:x, [:set, :public])
    e = :ets.new(:x, [:set, :public])

    for tab <- [t, e], mod = if(tab == t, do: Tsunami, else: :ets) do
      true = mod.insert(tab, {:k, nil, nil})
    end

    for _ <- 1..200_000, do: true = Tsunami.update_element(t, :k, {2, make_ref()})

    # The last value written is a magic reference (an :atomics counter): it must stay
    # alive while only the table holds it.
    # The process that made it has exited, so the table's keep-alive is all that is left.
    store_atomics(t)
    :erlang.garbage_collect()
    [{:k, back, nil}] = Tsunami.lookup(t, :k)
    assert :atomics.get(back, 1) == 42

    # Replacing the element drops what kept it alive; the object stays usable.
    true = Tsunami.update_element(t, :k, [{2, :plain}, {3, make_ref()}])
    assert [{:k, :plain, r}] = Tsunami.lookup(t, :k)
    assert is_reference(r)
    assert Tsunami.delete(t, :k)
    assert Tsunami.lookup(t, :k) == []
    assert Tsunami.delete(t)
    :ets.delete(e)
  end

  test "keep-alives do not pile up: memory after 100,000 ref updates stays flat" do
    t = Tsunami.new(:x, [:set, :public])
    Tsunami.insert(t, {:k, make_ref()})
    for _ <- 1..1_000, do: Tsunami.update_element(t, :k, {2, make_ref()})
    before = :erlang.memory(:total)
    for _ <- 1..100_000, do: Tsunami.update_element(t, :k, {2, make_ref()})
    :erlang.garbage_collect()
    # A stacked keep-alive is an environment per update (hundreds of bytes each): 100,000
    # of them would be tens of MB. A flat one leaves the VM's memory where it was.
    assert :erlang.memory(:total) - before < 5_000_000
    Tsunami.delete(t)
  end

  defp store_atomics(t) do
    {pid, mref} =
      spawn_monitor(fn ->
        ref = :atomics.new(1, [])
        :atomics.put(ref, 1, 42)
        true = Tsunami.update_element(t, :k, {2, ref})
      end)

    receive do
      {:DOWN, ^mref, :process, ^pid, :normal} -> :ok
    end
  end
end
