#!/usr/bin/env bash
# One command: install what is missing, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PATH="$HOME/.cargo/bin:$PATH"
mix run demo/demo.exs
