#!/usr/bin/env bash
# Long runs kept out of the default test command: scheduler-hold checks on 1M-object
# tables and other tests tagged :long, then the long API fuzz run.
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
# API fuzz: TSUNAMI_FUZZ_CALLS calls (default 10^7) compared with :ets, in child VMs of one
# scheduler each; prints calls, VM crashes, differences and wall time (Tsunami.ApiFuzz.Long).
MIX_ENV=test mix run -e 'Tsunami.ApiFuzz.Long.main()'
