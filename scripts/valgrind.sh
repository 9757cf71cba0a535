#!/usr/bin/env bash
# The core's unit, model and stress tests under valgrind memcheck (miri cannot be
# installed here): fails on any memory error or definite leak. Run by scripts/stress.sh.
# The one test that needs real thread contention (valgrind runs threads one at a time,
# so the tree never sees any) is skipped here; it runs in the normal test command.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
command -v valgrind >/dev/null 2>&1 || {
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq valgrind >/dev/null
}
export PATH="$HOME/.cargo/bin:$PATH"
cd native
bin=$(cargo test --release -p tsunami_core --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*tsunami_core-[^"]*"' | head -1 | cut -d'"' -f4)
echo "==> valgrind memcheck: $bin"
log=$(mktemp)
set +e
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
  "$bin" --test-threads=2 --skip stress_splits_under_contention >"$log" 2>&1
rc=$?
set -e
grep -E "test result|ERROR SUMMARY|definitely lost|Invalid|uninitialised|panicked" "$log" || true
echo "valgrind exit status: $rc (full log: $log)"
exit "$rc"
