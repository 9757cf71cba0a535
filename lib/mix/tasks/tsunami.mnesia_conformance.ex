defmodule Mix.Tasks.Tsunami.MnesiaConformance do
  @shortdoc "Runs OTP's mnesia suites with ext_ets served by Tsunami.Mnesia (or ext_test)"

  @moduledoc """
  Runs mnesia's own test suites of the installed OTP release
  (`mnesia_dirty_access_test`, `mnesia_evil_coverage_test`, `mnesia_config_test`) with
  their external-backend alias `ext_ets` served by `Tsunami.Mnesia`.

      mix tsunami.mnesia_conformance                     # the three suites, Tsunami
      mix tsunami.mnesia_conformance --target ext_test   # control: OTP's ext_test
      mix tsunami.mnesia_conformance --suite mnesia_dirty_access_test
      mix tsunami.mnesia_conformance --suite mnesia_evil_coverage_test --case dirty_delete_xets

  A thin wrapper: it compiles the project (not for `--target ext_test`) and hands every
  argument to `conformance/mnesia/run.sh`, which fetches the OTP sources as the ets
  conformance runner does, builds the suites with `conformance/mnesia/ext_test.erl`
  (an `ext_test` that hands every callback to `Tsunami.Mnesia`) in place of OTP's
  reference backend, and runs them under Common Test.
  """

  use Mix.Task

  @impl Mix.Task
  def run(args) do
    unless control_run?(args), do: Mix.Task.run("compile", [])

    script = Path.join(Path.dirname(Mix.Project.project_file()), "conformance/mnesia/run.sh")
    env = [{"TSUNAMI_BUILD_PATH", Mix.Project.build_path()}]
    {_, status} = System.cmd("bash", [script | args], into: IO.stream(:stdio, :line), env: env)
    if status != 0, do: exit({:shutdown, status})
  end

  defp control_run?(args) do
    Enum.chunk_every(args, 2, 1) |> Enum.any?(&(&1 == ["--target", "ext_test"]))
  end
end
