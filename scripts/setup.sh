#!/usr/bin/env bash
# Installs what Tsunami needs on a fresh Debian machine that has only the Rust toolchain:
# Erlang/OTP and Elixir from Debian (no hex packages anywhere), common_test for the
# conformance suite, PropEr for property tests. Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v erl >/dev/null 2>&1 || need+=(erlang-nox)
command -v elixir >/dev/null 2>&1 || need+=(elixir)
[ -f /usr/lib/erlang/usr/include/erl_nif.h ] || need+=(erlang-dev)
command -v ct_run >/dev/null 2>&1 || need+=(erlang-common-test)
ls -d /usr/lib/erlang/lib/proper-* >/dev/null 2>&1 || need+=(erlang-proper)

if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "cargo not found: install the Rust toolchain first (https://rustup.rs)" >&2
    exit 1
  fi
fi

# Elixir refuses to run without a UTF-8 locale on some minimal images.
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}"
