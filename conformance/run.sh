#!/usr/bin/env bash
# conformance/run.sh: runs OTP's own ETS test suite (lib/stdlib/test/ets_SUITE.erl
# of the installed OTP release) against Tsunami, or against the real ets as a
# control. `mix tsunami.conformance ARGS' compiles the project and runs this.
#
#   --target tsunami|ets|MODULE  where the suite's ets calls go (default tsunami,
#                                i.e. 'Elixir.Tsunami'; ets is the control run)
#   --suite NAME|PATH            another suite: a file, or the name of a suite in
#                                the OTP sources' lib/stdlib/test (default ets_SUITE)
#   --case NAME[,NAME]           run only these cases or top-level groups (repeatable)
#   --timetrap SECONDS           time limit of one case (default 180); the suite's
#                                own longer timetraps are scaled by the same factor
#   --max-minutes N              time limit of the whole run (default 30)
#   --include-benchmark          also run the benchmark group (excluded by default)
#   --ci                         exit 1 on a regression: a failing case listed in
#                                neither not_applicable.txt nor known_failures.txt,
#                                or a case listed in known_failures.txt that passes
#                                (also: TSUNAMI_CONFORMANCE_CI=1)
#   --update-known               rewrite known_failures.txt from this run
#   --logdir DIR                 where CT logs and results go
#   --no-compile                 do not run `mix compile' first
#
# The OTP sources are fetched and cached by fetch_otp_suite.sh under
# ${TSUNAMI_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/tsunami}; the suite
# is compiled there with the tsunami_redirect parse transform. One line is
# printed per test case, then the classification, then `N passed, N failed,
# N skipped'. A case that crashes the VM is recorded as failed and the run
# goes on in a fresh VM with the cases not yet run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
say() { echo "conformance: $*" >&2; }
die() { say "$*"; exit 2; }
usage() { sed -n '2,/^set /p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

target=tsunami suite=ets_SUITE cases="" timetrap=180 max_minutes=30
exclude=benchmark ci=${TSUNAMI_CONFORMANCE_CI:-false} update_known=false
logdir="" compile=true restarts=5
[ "$ci" = 1 ] && ci=true
while [ $# -gt 0 ]; do
    case $1 in
        --target) target=$2; shift ;;
        --suite) suite=$2; shift ;;
        --case) cases=${cases:+$cases,}$2; shift ;;
        --timetrap) timetrap=$2; shift ;;
        --max-minutes) max_minutes=$2; shift ;;
        --include-benchmark) exclude="" ;;
        --ci) ci=true ;;
        --update-known) update_known=true ;;
        --logdir) logdir=$2; shift ;;
        --no-compile) compile=false ;;
        -h|--help) usage ;;
        *) say "unknown argument: $1"; usage 2 ;;
    esac
    shift
done

case $target in
    tsunami|Tsunami) module=Elixir.Tsunami ;;
    *) module=$target ;;
esac
# known_failures.txt describes Tsunami; other targets only use not_applicable.txt.
classify=false
[ "$module" = Elixir.Tsunami ] && classify=true
[ "$update_known" = true ] && [ "$classify" = false ] &&
    die "--update-known describes Tsunami: it needs --target tsunami"

# Tools: Erlang with common_test (Debian packages; installed when missing).
ensure_erlang() {
    local missing=""
    command -v erlc >/dev/null || missing="erlang-nox erlang-dev"
    if command -v erl >/dev/null &&
        ! erl -noshell -eval 'halt(case code:which(ct) of non_existing -> 1; _ -> 0 end)'; then
        missing="$missing erlang-common-test"
    fi
    command -v erl >/dev/null || missing="$missing erlang-nox erlang-common-test"
    command -v xz >/dev/null || missing="$missing xz-utils"
    [ -z "$missing" ] && return
    [ "$(id -u)" = 0 ] || die "please install:$missing"
    say "installing$missing"
    apt-get update -qq >&2 && apt-get install -y -qq $missing >&2
}
ensure_erlang

cache=${TSUNAMI_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsunami}
if [ -f "$suite" ]; then
    suite_src=$(cd "$(dirname "$suite")" && pwd)/$(basename "$suite")
else
    suite_src=$("$here/fetch_otp_suite.sh" "$cache" "$suite")/$suite.erl
fi
name=$(basename "$suite_src" .erl)
case $suite_src in
    "$cache"/otp-*/src/lib/stdlib/test/*) otp_dir=${suite_src%/src/lib/stdlib/test/*} ;;
    *) otp_dir=$cache/local ;;
esac
slug=$(echo "$module" | tr -c 'A-Za-z0-9_.\n' _)
build=$otp_dir/build/$slug
logdir=${logdir:-$otp_dir/logs/$name-$slug}
mkdir -p "$build" "$logdir"
logdir=$(cd "$logdir" && pwd)

# The suite's data dir sits beside the beam, where CT looks for it.
rm -rf "${build:?}/${name}_data"
[ -d "$(dirname "$suite_src")/${name}_data" ] && cp -r "$(dirname "$suite_src")/${name}_data" "$build/"
# The redirect is the product's (src/tsunami_redirect.erl), shared with `config :tsunami, redirect:'.
erlc -o "$build" "$here"/src/*.erl "$root"/src/tsunami_redirect.erl
helpers=$otp_dir/src/helpers
if [ -d "$helpers" ]; then erlc -o "$build" "$helpers"/*.erl; fi

# An Elixir target needs the project's beams and Elixir's own on the code path
# (ERL_LIBS reaches the peer nodes the suite starts, too).
apps=""
case $module in
    Elixir.*)
        build_path=${TSUNAMI_BUILD_PATH:-}
        if [ -z "$build_path" ]; then
            if [ "$compile" = true ] && [ -f "$root/mix.exs" ]; then
                (cd "$root" && mix compile >&2) || say "warning: mix compile failed"
            fi
            build_path=$root/_build/${MIX_ENV:-dev}
        fi
        elixir_lib=$(dirname "$(elixir -e 'IO.puts(:code.lib_dir(:elixir))')")
        export ERL_LIBS="$build_path/lib:$elixir_lib${ERL_LIBS:+:$ERL_LIBS}"
        apps=elixir
        app=${TSUNAMI_APP:-tsunami}
        [ -f "$build_path/lib/$app/ebin/$app.app" ] && apps="$apps,$app"
        erl -noshell -eval "halt(case code:ensure_loaded('$module') of {module, _} -> 0; _ -> 1 end)" ||
            say "warning: module '$module' is not available (not compiled yet?): its cases will fail"
        ;;
esac

results=$logdir/results.txt
args=("suite_src=$suite_src" "build=$build" "target=$module" "results=$results"
      "logdir=$logdir" "console=$logdir/console.log" "cases=$cases" "exclude=$exclude"
      "timetrap=$timetrap" "adaptations=$here/adaptations.config")
# Log reports (the suite's own warnings, crash reports) go to a file.
logger="[{handler,default,logger_std_h,#{config=>#{file=>\"$logdir/logger.log\"}}}]"
say "running $name against '$module' (logs: $logdir)"

# otp_8166 needs 3 schedulers online: smaller machines get 3.
schedulers=()
[ "$(nproc)" -lt 3 ] && schedulers=(+S 3:3)

# One VM, and a fresh one for the rest of the cases each time a VM dies.
start=$(date +%s)
deadline=$((start + max_minutes * 60))
died=""
for ((attempt = 0; attempt <= restarts; attempt++)); do
    left=$((deadline - $(date +%s)))
    if [ "$left" -le 0 ]; then
        died="not finished: the whole run went past --max-minutes $max_minutes"
        break
    fi
    rc=0
    # --foreground and +Bd: Ctrl-C stops the VM too.
    timeout --foreground --signal=KILL "$left" erl -noshell +Bd \
        -sname "tsunami_conformance_$$_$attempt" "${schedulers[@]}" \
        -pa "$build" -kernel logger "$logger" \
        -run tsunami_conformance run "${args[@]}" "resume=$died" "apps=$apps" </dev/null || rc=$?
    grep -qs '^{finished,' "$results" && { died=""; break; }
    [ "$rc" = 2 ] && die "the suite could not be set up (see above)"
    if [ "$rc" = 137 ] && [ "$(date +%s)" -ge "$deadline" ]; then
        died="killed: the whole run went past --max-minutes $max_minutes"
        break
    fi
    case $rc in
        3) died="Common Test made no progress for too long (watchdog)" ;;
        *) died="the VM died while this case ran (exit status $rc)" ;;
    esac
    say "the VM stopped early (exit status $rc); going on in a fresh VM with the cases not run yet"
done

say "run time $(($(date +%s) - start)) s against '$module'; CT logs: $logdir/index.html"
report() {
    erl -noshell -pa "$build" -run tsunami_conformance_report main "${args[@]}" \
        "lists=$here" "classify=$classify" "ci=$1" "update_known=$update_known" \
        "died=$died" </dev/null
}

# In CI, a verdict must not hang on one noisy run: the cases that look like a
# regression or newly passing run once more on their own, and only what the
# second run confirms fails the build.
if [ "$ci" = true ] && [ -z "${TSUNAMI_CONFORMANCE_CONFIRM:-}" ]; then
    rc=0
    out=$(report true) || rc=$?
    echo "$out"
    [ "$rc" = 0 ] && exit 0
    suspects=$(echo "$out" | sed -n 's/^\(REGRESSION\|NOW PASSING\): \([^ ]*\) .*/\2/p' | paste -sd, -)
    [ -n "$suspects" ] || exit "$rc"
    say "confirming in a second run: $suspects"
    TSUNAMI_CONFORMANCE_CONFIRM=1 exec "$0" --no-compile --ci --target "$target" \
        --suite "$suite" --case "$suspects" --timetrap "$timetrap" --logdir "$logdir/confirm"
fi
report "$ci"
