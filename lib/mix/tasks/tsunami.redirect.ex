defmodule Mix.Tasks.Tsunami.Redirect do
  @shortdoc "Runs chosen applications on Tsunami, or lists what the redirect cannot reach"

  @moduledoc """
  Compiles the project and sends the `:ets` calls of the applications named in
  `config :tsunami, redirect: [...]` to `Tsunami` (see `Tsunami.Redirect`).

      mix tsunami.redirect                 # rewrite now (the compiler does it on every compile)
      mix tsunami.redirect --check         # list the calls no rewrite reaches
      mix tsunami.redirect --check my_app  # the same for other applications

  `--check` lists, with file and line, each call whose module is computed at run time
  and whose function is one of `:ets`'s (or is itself computed): such a call still goes
  to `:ets`, and `:ets` raises `ArgumentError` on a Tsunami table. It exits 1 when it
  lists any.
  """

  use Mix.Task

  @impl Mix.Task
  def run(args) do
    {opts, names} = OptionParser.parse!(args, strict: [check: :boolean])
    Mix.Task.run("compile", [])
    apps = if names == [], do: Tsunami.Redirect.apps(), else: Enum.map(names, &String.to_atom/1)
    build_lib = Path.join(Mix.Project.build_path(), "lib")

    if apps == [] do
      Mix.shell().info("no application to redirect: add config :tsunami, redirect: [:app, ...]")
    end

    if opts[:check], do: check(apps, build_lib), else: rewrite(apps, build_lib)
  end

  defp rewrite(apps, build_lib) do
    Enum.each(apps, fn app ->
      n = length(Tsunami.Redirect.rewrite_app(app, build_lib))
      Mix.shell().info("#{app}: #{n} module(s) rewritten now")
    end)
  end

  defp check(apps, build_lib) do
    calls = Enum.flat_map(apps, &Tsunami.Redirect.dynamic_calls(&1, build_lib))

    for {file, line, mod, {f, a}, what} <- calls do
      Mix.shell().info("#{file}:#{line}: #{inspect(mod)}.#{f}/#{a} calls #{what}")
    end

    Mix.shell().info("#{length(calls)} call(s) the redirect cannot reach in #{inspect(apps)}")
    if calls != [], do: exit({:shutdown, 1})
  end
end
