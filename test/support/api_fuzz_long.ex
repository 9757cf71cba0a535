defmodule Tsunami.ApiFuzz.Long do
  @moduledoc """
  The long API fuzz run (`scripts/stress.sh`): `TSUNAMI_FUZZ_CALLS` calls (default 10⁷)
  in child OS processes of `TSUNAMI_FUZZ_CHUNK` calls each (default 10⁶), one seed per
  child, each child a VM with one scheduler (`+S 1`) so the machine stays usable. A child
  that dies (segfault, abort, exit status other than 0) or runs past
  `TSUNAMI_FUZZ_TIMEOUT` seconds (default 1200) counts as a VM crash and the run goes on
  with the next seed. Prints calls, VM crashes, differences and wall time at the end;
  exits 1 unless both counts are 0.

      MIX_ENV=test mix run -e 'Tsunami.ApiFuzz.Long.main()'
      TSUNAMI_FUZZ_CALLS=100000 TSUNAMI_FUZZ_SEED=7 MIX_ENV=test mix run -e 'Tsunami.ApiFuzz.Long.main()'

  One child's seed can be re-run alone with `Tsunami.ApiFuzz.Long.child(seed, calls)`,
  and one episode of it with `Tsunami.ApiFuzz.replay(seed, episode)`.
  """

  def main do
    total = env_int("TSUNAMI_FUZZ_CALLS", 10_000_000)
    chunk = env_int("TSUNAMI_FUZZ_CHUNK", 1_000_000)
    timeout = env_int("TSUNAMI_FUZZ_TIMEOUT", 1200)
    base = env_int("TSUNAMI_FUZZ_SEED", :rand.uniform(1_000_000_000))
    started = System.monotonic_time(:millisecond)
    IO.puts("api fuzz: #{total} calls, #{chunk} per child VM, base seed #{base}")

    acc =
      Stream.iterate(0, &(&1 + 1))
      |> Enum.reduce_while(%{calls: 0, crashes: 0, diffs: 0, msgs: 0, i: 0}, fn i, acc ->
        if acc.calls >= total do
          {:halt, acc}
        else
          n = min(chunk, total - acc.calls)
          {:cont, run_child(base + i, n, timeout, acc)}
        end
      end)

    wall = (System.monotonic_time(:millisecond) - started) / 1000

    IO.puts("""

    API FUZZ RESULT: calls=#{acc.calls} vm_crashes=#{acc.crashes} differences=#{acc.diffs} \
    message_only_differences=#{acc.msgs} wall_time=#{Float.round(wall, 1)}s \
    (#{round(acc.calls / max(wall, 0.001))} calls/s) base_seed=#{base}\
    """)

    if acc.crashes > 0 or acc.diffs > 0, do: System.halt(1)
  end

  defp run_child(seed, n, timeout, acc) do
    t0 = System.monotonic_time(:millisecond)
    elixir = System.find_executable("elixir")
    expr = "Tsunami.ApiFuzz.Long.child(#{seed}, #{n})"

    args =
      [to_string(timeout), elixir, "--erl", "+S 1", "-S", "mix", "run", "--no-compile"] ++
        ["-e", expr]

    {out, status} =
      System.cmd("timeout", args, env: [{"MIX_ENV", "test"}], stderr_to_stdout: true)

    secs = (System.monotonic_time(:millisecond) - t0) / 1000

    case Regex.run(~r/API_FUZZ_CHILD calls=(\d+) diffs=(\d+) message_diffs=(\d+)/, out) do
      [_, calls, diffs, msgs] when status == 0 ->
        {calls, diffs, msgs} =
          {String.to_integer(calls), String.to_integer(diffs), String.to_integer(msgs)}

        if diffs > 0 or msgs > 0,
          do: out |> String.split("\nAPI_FUZZ_CHILD") |> hd() |> IO.puts()

        IO.puts(
          "seed #{seed}: #{calls} calls, #{diffs} differences, #{msgs} message-only, #{secs}s"
        )

        %{acc | calls: acc.calls + calls, diffs: acc.diffs + diffs, msgs: acc.msgs + msgs}

      _ ->
        IO.puts("seed #{seed}: VM CRASH (exit status #{status}) after #{secs}s; output tail:")
        IO.puts(String.slice(out, -4000, 4000))
        # The child's calls are not counted (its count died with it).
        %{acc | crashes: acc.crashes + 1}
    end
  end

  @doc "Runs `calls` fuzz calls with `seed` in this VM and prints the result line."
  def child(seed, calls) do
    r = Tsunami.ApiFuzz.run(seed: seed, calls: calls)

    for d <- r.diffs do
      IO.puts("DIFFERENCE #{inspect(d, limit: 200, printable_limit: 4000, pretty: true)}")
    end

    for {{f, m1, m2}, call} <- r.message_diffs do
      IO.puts(
        "MESSAGE-ONLY #{f}: #{String.slice(call, 0, 300)}\n  ets: #{inspect(m1)}\n  tsunami: #{inspect(m2)}"
      )
    end

    IO.puts(
      "API_FUZZ_CHILD calls=#{r.calls} diffs=#{length(r.diffs)} message_diffs=#{map_size(r.message_diffs)}"
    )
  end

  defp env_int(name, default) do
    case System.get_env(name) do
      nil -> default
      "" -> default
      v -> String.to_integer(v)
    end
  end
end
