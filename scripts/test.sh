#!/usr/bin/env bash
# One command: install what is missing, build, run every test.
#
#   1. Rust: cargo fmt/clippy checks, unit + model + stress tests of tsunami_core,
#      loom model tests (cfg(loom)), and a compile check of the criterion benches.
#   2. Elixir: mix format check, ExUnit (parity with :ets, access, properties, doctests,
#      a consumer project that depends on Tsunami by path).
#   3. The OTP ets_SUITE conformance run, failing on any regression; OTP's mnesia
#      suites with ext_ets served by Tsunami.Mnesia, failing on a new failure.
#   4. A quick smoke run of the benchmark harness and of the scheduler monitor.
#
# Long stress runs are tagged :long and run with scripts/stress.sh instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PATH="$HOME/.cargo/bin:$PATH"

step() { echo; echo "==> $*"; }

step "cargo fmt / clippy"
(cd native && cargo fmt --all -- --check && cargo clippy --release --all-targets -- -D warnings)

step "cargo test (tsunami_core: unit, model, stress)"
(cd native && cargo test --release -p tsunami_core)

step "loom model tests"
(cd native && RUSTFLAGS="--cfg loom" cargo test --release -p tsunami_core --target-dir target/loom loom)

step "mix format --check-formatted"
mix format --check-formatted

step "ExUnit"
MIX_ENV=test mix test

step "ExUnit on split trees (every ordered_set write splits its base node)"
TSUNAMI_SPLIT_TREES=1 MIX_ENV=test mix test test/ordered_set_test.exs test/select_test.exs \
  test/random_ops_test.exs test/select_engine_test.exs test/reliability/split_tree_test.exs

if [ -f lib/mix/tasks/tsunami.conformance.ex ]; then
  step "OTP ets_SUITE conformance (fails on regressions)"
  mix tsunami.conformance --ci
fi

if [ -f lib/mix/tasks/tsunami.mnesia_conformance.ex ]; then
  step "OTP mnesia suites with ext_ets served by Tsunami.Mnesia (fails on new failures)"
  MIX_ENV=test mix tsunami.mnesia_conformance --ci
fi

if [ -f bench/run.exs ]; then
  step "benchmark smoke run"
  MIX_ENV=bench mix run bench/run.exs --quick
fi

if [ -f bench/mnesia.exs ]; then
  step "mnesia benchmark smoke run"
  MIX_ENV=bench mix run bench/mnesia.exs --quick
fi

if [ -f bench/sched_monitor.exs ]; then
  step "scheduler monitor smoke run (50K-object tables)"
  MIX_ENV=bench mix run bench/sched_monitor.exs --quick
fi
