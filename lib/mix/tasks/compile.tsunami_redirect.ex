defmodule Mix.Tasks.Compile.TsunamiRedirect do
  @shortdoc "Sends the :ets calls of the applications in `config :tsunami, redirect:` to Tsunami"

  @moduledoc """
  A Mix compiler: after the project and its dependencies are compiled, rewrites the
  `.beam` files of the applications named in `config :tsunami, redirect: [...]` so that
  their `:ets` calls go to `Tsunami` (see `Tsunami.Redirect`). Add it last:

      compilers: Mix.compilers() ++ [:tsunami_redirect]

  Modules already rewritten, and modules that do not name `:ets`, are left alone, so a
  run that has nothing to do reads a few chunks of each `.beam` and returns.
  """

  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    build_lib = Path.join(Mix.Project.build_path(), "lib")

    rewritten =
      for app <- Tsunami.Redirect.apps(),
          {mod, counts} <- Tsunami.Redirect.rewrite_app(app, build_lib) do
        Mix.shell().info("tsunami.redirect: #{inspect(mod)} (#{app}): #{describe(counts)}")
        mod
      end

    {if(rewritten == [], do: :noop, else: :ok), []}
  end

  defp describe(counts) when counts == %{}, do: "nothing to rewrite"

  defp describe(counts) do
    Enum.map_join(Enum.sort(counts), ", ", fn {what, n} ->
      "#{n} #{String.replace(to_string(what), "_", " ")}"
    end)
  end
end
