# PropEr (Debian's erlang-proper) is not a hex dependency: put its ebin on the path.
proper_ebin =
  case :code.lib_dir(:proper) do
    {:error, _} -> Path.wildcard("/usr/lib/erlang/lib/proper-*/ebin") |> List.first()
    dir -> Path.join(to_string(dir), "ebin")
  end

if proper_ebin && File.dir?(proper_ebin) do
  Code.prepend_path(proper_ebin)
end

{:module, :proper} = Code.ensure_loaded(:proper)

# :long — slow scheduler-hogging checks on a 1M-object table (run with --include long).
# :known_difference — documented differences from :ets that need a design change.
ExUnit.configure(exclude: [:long, :known_difference])
ExUnit.start()
