defmodule Tsunami.Redirect do
  @moduledoc """
  Runs chosen applications on Tsunami without editing them: their compiled modules are
  recompiled, from their `debug_info`, with their `:ets` calls sent to `Tsunami`.

      # config/config.exs
      config :tsunami, redirect: [:some_cache]

      # mix.exs, in project/0
      compilers: Mix.compilers() ++ [:tsunami_redirect]

  After every `mix compile` (so also `mix test`, `mix run`, `mix release`) the `.beam`
  files of the named applications in `_build` are rewritten in place. A release copies
  those files, so it runs them as they are. Elixir and Erlang applications alike,
  dependencies or the project itself; not OTP's or Elixir's own applications (they are
  not built by the project) and not `:tsunami`.

  What is rewritten is what `src/tsunami_redirect.erl` describes: remote calls
  `:ets.f(...)` (through an alias or a module attribute too: they are plain remote calls
  once expanded), external funs `&:ets.f/n`, the module argument of `apply/3` and the
  `spawn` family, stack-frame patterns `{:ets, f, args, info}` (any 4-tuple pattern
  that starts with `:ets`), and `:ets` passed to a local function that uses that
  argument as a module. `:ets` as data stays. A module computed at run time cannot be
  rewritten: `mix tsunami.redirect --check` lists such calls.

  A rewritten module carries the attribute `tsunami_redirect: [Tsunami]`, so a second run
  leaves it alone and `Tsunami.i/0` can tell whether an application was redirected. Its
  debug_info becomes the rewritten Erlang forms; its other chunks (docs, Elixir's
  checker data) are kept.
  """

  @target Tsunami
  @marker :tsunami_redirect

  # Chunks compile:forms writes itself; every other chunk of the old .beam is carried over.
  @compiler_chunks ~w(AtU8 Atom Code StrT ImpT ExpT FunT LitT LocT Attr CInf Dbgi Abst Line Type Meta)c

  # Options of an Erlang module's original compilation that must not apply again: its
  # forms are already preprocessed and transformed, and a warning must not stop the build.
  @dropped_options [:warnings_as_errors, :report, :report_errors, :report_warnings, :verbose]

  @doc "The applications named in `config :tsunami, redirect: [...]`."
  @spec apps() :: [atom()]
  def apps do
    # Loading reads the config of a release (sys.config), even in `bin/app eval`.
    _ = Application.load(:tsunami)
    Application.get_env(:tsunami, :redirect, [])
  end

  @doc """
  Whether `app` runs on Tsunami: every module of it that named `:ets` was rewritten.
  `nil` when the application cannot be loaded or none of its modules names `:ets`.
  """
  @spec redirected?(atom()) :: boolean() | nil
  def redirected?(app) do
    _ = Application.load(app)

    states =
      case :application.get_key(app, :modules) do
        {:ok, mods} -> for mod <- mods, path = :code.which(mod), is_list(path), do: state(path)
        :undefined -> []
      end

    cond do
      :pending in states -> false
      :rewritten in states -> true
      true -> nil
    end
  end

  # :rewritten (marked), :pending (names :ets, not marked) or :none.
  defp state(path) do
    bin = File.read!(path)

    cond do
      marked?(bin) -> :rewritten
      ets_atom?(bin) -> :pending
      true -> :none
    end
  end

  @doc """
  Rewrites the `.beam` files of `app` under `build_lib` (`_build/ENV/lib`) and reloads
  the rewritten modules that are loaded. Returns `[{module, counts}]` for the modules
  rewritten now; modules already rewritten or without `:ets` are left alone.
  """
  @spec rewrite_app(atom(), Path.t()) :: [{module(), map()}]
  def rewrite_app(app, build_lib) do
    beams(app, build_lib) |> Enum.map(&rewrite_beam/1) |> Enum.reject(&(&1 == :unchanged))
  end

  @doc """
  The calls of `app`'s modules that no static rewrite reaches:
  `[{file, line, module, {function, arity}, description}]`.
  """
  @spec dynamic_calls(atom(), Path.t()) :: [tuple()]
  def dynamic_calls(app, build_lib) do
    for path <- beams(app, build_lib),
        {mod, forms, bin} <- [read_forms(path)],
        {file, line, fa, what} <- :tsunami_redirect.dynamic_calls(forms) do
      {source_file(file, bin), line, mod, fa, List.to_string(what)}
    end
  end

  defp beams(app, build_lib) do
    check_app!(app)
    ebin = Path.join([build_lib, to_string(app), "ebin"])

    unless File.dir?(ebin) do
      Mix.raise(
        "config :tsunami, redirect: #{inspect(app)} is not an application built by this " <>
          "project (no #{Path.relative_to_cwd(ebin)}); OTP's and Elixir's own applications " <>
          "cannot be redirected"
      )
    end

    Path.wildcard(Path.join(ebin, "*.beam"))
  end

  defp check_app!(:tsunami), do: Mix.raise("config :tsunami, redirect: cannot name :tsunami")
  defp check_app!(app) when is_atom(app), do: :ok
  defp check_app!(app), do: Mix.raise("config :tsunami, redirect: #{inspect(app)} is not an atom")

  @doc false
  def rewrite_beam(path) do
    bin = File.read!(path)

    if not ets_atom?(bin) or marked?(bin) do
      :unchanged
    else
      {mod, forms, bin} = read_forms(path, bin)
      {forms, counts} = :tsunami_redirect.forms(forms, tsunami_redirect_target: @target)
      new = compile!(mod, mark(forms), options(bin) ++ [extra_chunks: extra_chunks(bin)], path)
      tmp = "#{path}.#{System.unique_integer([:positive])}.tmp"
      File.write!(tmp, new)
      File.rename!(tmp, path)
      reload(mod, path, new)
      {mod, counts}
    end
  end

  # The atom table tells, without decoding any code, whether the module names :ets at all.
  defp ets_atom?(bin) do
    {:ok, {_, [atoms: atoms]}} = :beam_lib.chunks(bin, [:atoms])
    List.keymember?(atoms, :ets, 1)
  end

  defp marked?(bin) do
    {:ok, {_, [attributes: attrs]}} = :beam_lib.chunks(bin, [:attributes])
    Keyword.has_key?(attrs, @marker)
  end

  defp read_forms(path, bin \\ nil) do
    bin = bin || File.read!(path)

    case :beam_lib.chunks(bin, [:debug_info]) do
      {:ok, {mod, [debug_info: {:debug_info_v1, backend, data}]}} when data != :none ->
        case backend.debug_info(:erlang_v1, mod, data, []) do
          {:ok, forms} ->
            {mod, forms, bin}

          {:error, why} ->
            Mix.raise("#{path}: no Erlang forms in its debug_info: #{inspect(why)}")
        end

      _ ->
        Mix.raise("#{path}: compiled without debug_info, which the redirect recompiles from")
    end
  end

  # The marker goes right after -module: attributes may not follow functions.
  defp mark(forms) do
    {head, [module | rest]} =
      Enum.split_while(forms, &(not match?({:attribute, _, :module, _}, &1)))

    head ++ [module, {:attribute, 0, @marker, [@target]} | strip_parse_transforms(rest)]
  end

  # The forms in debug_info are already transformed; a transform must not run twice.
  defp strip_parse_transforms(forms) do
    Enum.flat_map(forms, fn
      {:attribute, anno, :compile, opts} ->
        kept = Enum.reject(List.wrap(opts), &match?({:parse_transform, _}, &1))
        if kept == [], do: [], else: [{:attribute, anno, :compile, kept}]

      form ->
        [form]
    end)
  end

  defp options(bin) do
    {:ok, {_, [debug_info: {:debug_info_v1, backend, data}, compile_info: info]}} =
      :beam_lib.chunks(bin, [:debug_info, :compile_info])

    original =
      case {backend, data} do
        {:erl_abstract_code, {_forms, opts}} when is_list(opts) ->
          Enum.reject(opts, &(&1 in @dropped_options or match?({:parse_transform, _}, &1)))

        _ ->
          []
      end

    source = if src = info[:source], do: [source: src], else: []
    Enum.uniq(original ++ source ++ [:binary, :return_errors, :debug_info])
  end

  defp extra_chunks(bin) do
    {:ok, _, chunks} = :beam_lib.all_chunks(bin)
    for {id, data} <- chunks, id not in @compiler_chunks, do: {List.to_string(id), data}
  end

  defp compile!(mod, forms, opts, path) do
    case :compile.noenv_forms(forms, opts) do
      {:ok, ^mod, new} -> new
      {:error, errors, _} -> Mix.raise("#{path}: recompiling failed: #{inspect(errors)}")
    end
  end

  # Mix compiled (and so loaded) some of these modules in this VM: run the new code.
  defp reload(mod, path, bin) do
    if :code.is_loaded(mod) do
      :code.purge(mod)
      {:module, ^mod} = :code.load_binary(mod, String.to_charlist(path), bin)
    end
  end

  # Elixir's forms name the file relative to the project that compiled it; the compile
  # info has the absolute path.
  defp source_file(file, bin) do
    {:ok, {_, [compile_info: info]}} = :beam_lib.chunks(bin, [:compile_info])
    absolute = to_string(info[:source] || "")
    file = to_string(file)

    cond do
      Path.type(file) == :absolute -> Path.relative_to_cwd(file)
      String.ends_with?(absolute, "/" <> file) -> Path.relative_to_cwd(absolute)
      true -> file
    end
  end
end
