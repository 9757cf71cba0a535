#!/usr/bin/env bash
# Runs a library's own ExUnit suite twice, on :ets and on Tsunami through the redirect
# (config :tsunami, redirect: [APP]), without editing the library:
#
#   scripts/redirect_library.sh LIB_DIR APP [mix test arguments...]
#
# LIB_DIR is a Mix project (a checkout of the library); its test/ directory runs from a
# project made in a temporary directory that depends on it and on Tsunami by path. Prints
# the `mix test` summary of each run, the names of the tables on Tsunami (a line from an
# extra test: none on :ets), and `mix tsunami.redirect --check`.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
lib=$(cd "$1" && pwd) app=$2
shift 2
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PATH="$HOME/.cargo/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for mode in ets tsunami; do
    dir=$work/$mode
    mkdir -p "$dir/config" "$dir/test"
    cat >"$dir/mix.exs" <<MIX
defmodule RedirectLibrary.MixProject do
  use Mix.Project

  def project do
    [
      app: :redirect_library,
      version: "0.1.0",
      compilers: Mix.compilers() ++ [:tsunami_redirect],
      test_paths: ["$lib/test", "test"],
      deps: [{:tsunami, path: "$root"}, {:$app, path: "$lib"}]
    ]
  end
end
MIX
    apps="[]"
    [ "$mode" = tsunami ] && apps="[:$app]"
    printf 'import Config\nconfig :tsunami, redirect: %s\n' "$apps" >"$dir/config/config.exs"
    echo 'ExUnit.start()' >"$dir/test/test_helper.exs"
    # Which tables are Tsunami's once the library's suite has started its application.
    cat >"$dir/test/tsunami_tables_test.exs" <<'TEST'
defmodule TsunamiTablesTest do
  use ExUnit.Case

  test "the tables on Tsunami" do
    names = for t <- Tsunami.all(), (n = Tsunami.info(t, :name)) != :undefined, do: n
    IO.puts("\nTsunami tables: #{inspect(Enum.sort(names))}")
  end
end
TEST
    echo "== $mode: mix test $*"
    (cd "$dir" && MIX_ENV=test mix test "$@" </dev/null 2>&1 |
        grep -E "^tsunami.redirect:|Tsunami tables:|tests?, [0-9]+ failures?|^  [0-9]+\) test") || true
done
echo "== mix tsunami.redirect --check"
(cd "$work/tsunami" && MIX_ENV=test mix tsunami.redirect --check </dev/null 2>&1 | grep -v "^ *Finished\|^==>\|Compiling\|Generated") || true
