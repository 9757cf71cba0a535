#!/usr/bin/env bash
# Long runs kept out of the default test command: scheduler-hold checks on 1M-object
# tables and other tests tagged :long, then the scheduler monitor on 1M-object tables
# (longest scheduler hold per API call, Tsunami next to :ets; SCHED_MONITOR_ARGS adds
# options, e.g. "--repeat 3 --check").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PATH="$HOME/.cargo/bin:$PATH"
MIX_ENV=test mix test --only long
MIX_ENV=bench mix run bench/sched_monitor.exs ${SCHED_MONITOR_ARGS:-}
