defmodule Tsunami.TestSupport do
  @moduledoc """
  Small helpers several test files share: polling for a condition, the VM's resident
  memory, and busy-waiting without yielding much.
  """

  @doc "Calls `fun` every `sleep_ms` until it returns true, at most `tries` times; its last answer."
  def wait_until(fun, tries \\ 200, sleep_ms \\ 5) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(sleep_ms) && wait_until(fun, tries - 1, sleep_ms)
    end
  end

  @doc "Resident memory of this OS process, in bytes."
  def rss do
    [_, pages | _] = File.read!("/proc/self/statm") |> String.split()
    String.to_integer(pages) * 4096
  end

  @doc "Busy for about `n` additions, so other processes run on the other scheduler meanwhile."
  def spin(n), do: Enum.reduce(1..max(n, 1), 0, &(&1 + &2))
end
