defmodule Mix.Tasks.Tsunami.Conformance do
  @shortdoc "Runs OTP's ets_SUITE against Tsunami (or :ets as a control)"

  @moduledoc """
  Runs the ETS test suite of the installed OTP release against `Tsunami`.

      mix tsunami.conformance                      # all cases, against Tsunami
      mix tsunami.conformance --target ets         # control run against :ets
      mix tsunami.conformance --case heir,give_away
      mix tsunami.conformance --ci                 # exit 1 on a regression
      mix tsunami.conformance --update-known       # rewrite known_failures.txt

  A thin wrapper: it compiles the project (not for `--target ets`) and hands
  every argument to `conformance/run.sh`, which fetches the suite from
  Debian's `erlang` source package, redirects its `ets` calls and runs it
  under Common Test. See `conformance/README.md` and `conformance/run.sh --help`.
  """

  use Mix.Task

  @impl Mix.Task
  def run(args) do
    unless control_run?(args) or "--no-compile" in args, do: Mix.Task.run("compile", [])

    script = Path.join(Path.dirname(Mix.Project.project_file()), "conformance/run.sh")

    env = [
      {"TSUNAMI_BUILD_PATH", Mix.Project.build_path()},
      {"TSUNAMI_APP", to_string(Mix.Project.config()[:app])}
    ]

    {_, status} = System.cmd("bash", [script | args], into: IO.stream(:stdio, :line), env: env)

    if status != 0, do: exit({:shutdown, status})
  end

  # The control run (--target ets) needs nothing of the project.
  defp control_run?(args) do
    Enum.chunk_every(args, 2, 1) |> Enum.any?(&(&1 == ["--target", "ets"]))
  end
end
