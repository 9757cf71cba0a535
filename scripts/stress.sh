#!/usr/bin/env bash
# Long runs kept out of the default test command: scheduler-hold checks on 1M-object
# tables and other tests tagged :long, then the scheduler monitor on 1M-object tables
# (longest scheduler hold per API call, Tsunami next to :ets; SCHED_MONITOR_ARGS adds
# options, e.g. "--repeat 3 --check");
# then the long API fuzz run, full-size soak runs and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PATH="$HOME/.cargo/bin:$PATH"
# `scripts/stress.sh fuzz [CALLS]`: only the API fuzz run (issue #14).
if [ "${1:-}" = "fuzz" ]; then
  TSUNAMI_FUZZ_CALLS="${2:-${TSUNAMI_FUZZ_CALLS:-10000000}}" MIX_ENV=test mix run -e 'Tsunami.ApiFuzz.Long.main()'
  exit
fi
MIX_ENV=test mix test --only long
MIX_ENV=bench mix run bench/sched_monitor.exs ${SCHED_MONITOR_ARGS:-}

# Soak runs at full size (issue #14): 10^5 owner deaths with and without heir (RSS within
# 5%), 10^6 named create/delete cycles, a kill storm of 500 writers mid list insert (5M objects a table).
TSUNAMI_SOAK=long MIX_ENV=test mix test test/soak/soak_test.exs

# The core's tests under valgrind memcheck: 0 errors, no definite leaks.
bash scripts/valgrind.sh

# API fuzz: TSUNAMI_FUZZ_CALLS calls (default 10^7) compared with :ets, in child VMs of one
# scheduler each; prints calls, VM crashes, differences and wall time (Tsunami.ApiFuzz.Long).
MIX_ENV=test mix run -e 'Tsunami.ApiFuzz.Long.main()'
