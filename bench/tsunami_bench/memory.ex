defmodule TsunamiBench.Memory do
  @moduledoc false
  # Bytes per object, measured in a fresh BEAM per case (a child `erl` with the same
  # code path), so nothing the benchmark allocated earlier skews the OS numbers.
  #
  # In the child: settle, read VmRSS and :erlang.memory(:total); create a public table;
  # a short-lived process builds and inserts n objects {i, "value-i", [i, 2i]} and exits
  # (its heap is freed); settle; read both again, plus the table's own `info(:memory)`.
  # Backend :none runs the same filler without storing anything: the RSS the loop itself
  # leaves behind (allocator caches), a baseline for the other two.

  @marker "TSUNAMI_BENCH_RESULT:"

  @doc "Runs one case in a child VM. Returns a map or `{:error, output}`."
  def measure(backend, n) do
    erl = System.find_executable("erl") || raise "erl not found"
    paths = Enum.flat_map(:code.get_path(), fn p -> ["-pa", to_string(p)] end)
    eval = "'Elixir.TsunamiBench.Memory':child(#{backend}, #{n}), halt()."
    args = ["-noshell"] ++ paths ++ ["-eval", eval]
    {out, status} = System.cmd(erl, args, stderr_to_stdout: true)

    case {status, String.split(out, @marker)} do
      {0, [_, encoded | _]} ->
        encoded |> String.trim() |> Base.decode64!() |> :erlang.binary_to_term()

      _ ->
        {:error, "exit #{status}: " <> String.slice(out, -2000, 2000)}
    end
  end

  @doc false
  # Entry point of the child VM.
  def child(backend, n) do
    settle()
    rss0 = rss()
    beam0 = :erlang.memory(:total)
    tab = new_table(backend)
    parent = self()

    {pid, ref} =
      spawn_monitor(fn ->
        fill(backend, tab, 1, n)
        send(parent, {self(), :filled})
      end)

    receive do
      {^pid, :filled} -> :ok
      {:DOWN, ^ref, :process, _, reason} -> exit({:filler_died, reason})
    end

    receive do
      {:DOWN, ^ref, :process, _, _} -> :ok
    end

    settle()
    rss1 = rss()
    beam1 = :erlang.memory(:total)
    beam_ets = :erlang.memory(:ets)

    result = %{
      backend: backend,
      n: n,
      size: size(backend, tab),
      info_bytes: info_bytes(backend, tab),
      rss_delta: rss1 - rss0,
      beam_delta: beam1 - beam0,
      beam_ets: beam_ets
    }

    IO.puts(@marker <> Base.encode64(:erlang.term_to_binary(result)))
  end

  defp settle do
    for p <- Process.list(), do: :erlang.garbage_collect(p)
    Process.sleep(300)
  end

  @doc "VmRSS of this OS process, in bytes."
  def rss do
    "/proc/self/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn
      "VmRSS:" <> rest -> rest |> String.trim() |> String.trim_trailing(" kB")
      _ -> nil
    end)
    |> String.to_integer()
    |> Kernel.*(1024)
  end

  defp new_table(:ets), do: :ets.new(:bench_mem, [:set, :public])
  defp new_table(:tsunami), do: Tsunami.new(:bench_mem, [:set, :public])
  defp new_table(:none), do: nil

  defp size(:ets, t), do: :ets.info(t, :size)
  defp size(:tsunami, t), do: Tsunami.info(t, :size)
  defp size(:none, _), do: 0

  defp info_bytes(:ets, t), do: :ets.info(t, :memory) * :erlang.system_info(:wordsize)
  defp info_bytes(:tsunami, t), do: Tsunami.info(t, :memory) * :erlang.system_info(:wordsize)
  defp info_bytes(:none, _), do: 0

  defp fill(_b, _t, i, n) when i > n, do: :ok

  defp fill(b, t, i, n) do
    obj = {i, "value-#{i}", [i, 2 * i]}

    case b do
      :ets -> :ets.insert(t, obj)
      :tsunami -> Tsunami.insert(t, obj)
      :none -> :ok
    end

    fill(b, t, i + 1, n)
  end
end
