defmodule Mix.Tasks.Compile.TsunamiNative do
  @moduledoc """
  Builds the Rust NIF with cargo and copies it to `priv/`.

  Release profile by default; `TSUNAMI_CARGO_PROFILE=debug` builds a debug NIF. Cargo
  itself decides whether anything needs rebuilding, so this runs on every compile.
  """
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    root = Path.expand(__DIR__)
    profile = System.get_env("TSUNAMI_CARGO_PROFILE", "release")
    cargo = System.find_executable("cargo") || Path.expand("~/.cargo/bin/cargo")

    unless File.exists?(cargo) do
      Mix.raise("cargo not found: install the Rust toolchain (https://rustup.rs)")
    end

    args =
      ["build", "--manifest-path", Path.join(root, "native/Cargo.toml"), "-p", "tsunami_nif"] ++
        if(profile == "release", do: ["--release"], else: [])

    case System.cmd(cargo, args, stderr_to_stdout: true, into: IO.stream(:stdio, :line)) do
      {_, 0} -> :ok
      {_, code} -> Mix.raise("cargo build failed (exit #{code})")
    end

    ext = if match?({:unix, :darwin}, :os.type()), do: "dylib", else: "so"
    built = Path.join(root, "native/target/#{profile}/libtsunami_nif.#{ext}")
    priv = Path.join(root, "priv")
    File.mkdir_p!(priv)
    dest = Path.join(priv, "libtsunami_nif.so")

    # Copy to a temp name and rename: a loaded .so must not be overwritten in place.
    if not File.exists?(dest) or File.read!(built) != File.read!(dest) do
      tmp = "#{dest}.#{System.unique_integer([:positive])}.tmp"
      File.cp!(built, tmp)
      File.rename!(tmp, dest)
    end

    # Links _build/<env>/lib/tsunami/priv to priv/ (it may not have existed before).
    Mix.Project.build_structure()
    {:ok, []}
  end
end

defmodule Tsunami.MixProject do
  use Mix.Project

  def project do
    [
      app: :tsunami,
      version: "0.1.0",
      elixir: "~> 1.14",
      compilers: [:tsunami_native] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      deps: [],
      aliases: aliases(),
      test_coverage: [ignore_modules: [Tsunami.Native]],
      # Tsunami.Mnesia calls mnesia only when mnesia runs it as a backend; mnesia is not
      # started with the application.
      xref: [exclude: [:mnesia, :mnesia_lib, :mnesia_ext_sup]]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support", "bench"]
  defp elixirc_paths(:bench), do: ["lib", "bench"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [demo: ["run demo/demo.exs"]]
  end
end
