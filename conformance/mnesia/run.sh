#!/usr/bin/env bash
# conformance/mnesia/run.sh: runs OTP's own mnesia test suites
# (lib/mnesia/test of the installed OTP release, from Debian's `erlang' source
# package, fetched and cached as for the ets_SUITE runner) with the external
# backend alias `ext_ets' served by Tsunami.Mnesia, or, as the control run, by
# OTP's reference backend ext_test. `mix tsunami.mnesia_conformance ARGS'
# compiles the project and runs this.
#
#   --target tsunami|ext_test  who serves ext_ets (default tsunami): for tsunami,
#                              conformance/mnesia/ext_test.erl takes ext_test's
#                              place and hands every callback to Tsunami.Mnesia
#   --suite NAME               a suite of lib/mnesia/test (repeatable; default
#                              mnesia_dirty_access_test, mnesia_evil_coverage_test,
#                              mnesia_config_test)
#   --case NAME[,NAME]         only these cases (of a single --suite)
#   --logdir DIR               where CT logs and the summary go
#   --ci                       exit 1 if a case fails that known_failures.txt
#                              does not list (cases failing on ext_test too)
#
# The suites start their own extra nodes (mnesia_test_lib, `slave'), so this
# VM is distributed (-sname). Prints CT's per-suite totals and writes
# LOGDIR/summary.txt: one line `SUITE ok N failed N skipped N'.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { echo "mnesia-conformance: $*" >&2; }
die() { say "$*"; exit 2; }

target=tsunami
suites=()
cases=""
logdir=""
ci=false
while [ $# -gt 0 ]; do
    case $1 in
        --target) target=$2; shift 2 ;;
        --suite) suites+=("$2"); shift 2 ;;
        --case) cases=$2; shift 2 ;;
        --logdir) logdir=$2; shift 2 ;;
        --ci) ci=true; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
[ ${#suites[@]} -gt 0 ] ||
    suites=(mnesia_dirty_access_test mnesia_evil_coverage_test mnesia_config_test)
case $target in tsunami|ext_test) ;; *) die "--target is tsunami or ext_test" ;; esac

# The OTP sources: the ets_SUITE fetcher downloads (once) and caches the
# orig tarball; lib/mnesia/test is extracted from it next to the ets suite.
cache=${TSUNAMI_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsunami}
stdlib_test=$("$root/conformance/fetch_otp_suite.sh" "$cache" ets_SUITE)
otp_dir=${stdlib_test%/src/lib/stdlib/test}
otp=${otp_dir##*/otp-}
testdir=$otp_dir/src/lib/mnesia/test
if [ ! -f "$testdir/.extracted" ]; then
    orig=$(ls "$otp_dir/dl"/erlang_*.orig.tar.*)
    say "extracting lib/mnesia/test from $(basename "$orig")"
    tar -xf "$orig" -C "$otp_dir/src" --strip-components=1 --wildcards "otp-OTP-$otp/lib/mnesia/test/*"
    touch "$testdir/.extracted"
fi

build=$otp_dir/build/mnesia-$target
logdir=${logdir:-$otp_dir/logs/mnesia-$target}
rm -rf "$build"
mkdir -p "$build" "$logdir"
logdir=$(cd "$logdir" && pwd)

# The test modules (helpers included); ext_test from OTP or the Tsunami shim.
for f in "$testdir"/*.erl; do
    case $(basename "$f") in mt.erl) continue ;; ext_test.erl) [ "$target" = ext_test ] || continue ;; esac
    erlc -I "$testdir" -o "$build" "$f" >/dev/null 2>&1 || say "warning: $(basename "$f") did not compile"
done
erlc -o "$build" "$here/tsunami_mnesia_cth.erl"
if [ "$target" = tsunami ]; then
    erlc -o "$build" "$here/ext_test.erl"
    build_path=${TSUNAMI_BUILD_PATH:-$root/_build/${MIX_ENV:-dev}}
    elixir_lib=$(dirname "$(elixir -e 'IO.puts(:code.lib_dir(:elixir))')")
    export ERL_LIBS="$build_path/lib:$elixir_lib${ERL_LIBS:+:$ERL_LIBS}"
    erl -noshell -eval "halt(case code:ensure_loaded('Elixir.Tsunami.Mnesia') of {module, _} -> 0; _ -> 1 end)" ||
        die "Tsunami.Mnesia is not compiled (run mix compile, or mix tsunami.mnesia_conformance)"
fi

suite_list=$(printf "%s," "${suites[@]}"); suite_list="[${suite_list%,}]"
case_opt=""
[ -n "$cases" ] && case_opt=", {testcase, [${cases}]}"
say "running ${suites[*]} with ext_ets served by $target (logs: $logdir)"
start=$(date +%s)
cd "$build"
erl -noshell -sname "tsunami_mnesia_conf_$$" -pa "$build" \
    -kernel logger "[{handler,default,logger_std_h,#{config=>#{file=>\"$logdir/logger.log\"}}}]" \
    -eval "
        io:format(\"ext_test: ~s~n\", [code:which(ext_test)]),
        R = ct:run_test([{dir, \"$build\"}, {suite, $suite_list}$case_opt,
                         {logdir, \"$logdir\"}, {auto_compile, false},
                         {include, \"$testdir\"}, {ct_hooks, [tsunami_mnesia_cth]}]),
        io:format(\"ct result: ~p~n\", [R]),
        halt()." </dev/null | tee "$logdir/console.log" | grep -E '^(ext_test:|Testing|TEST COMPLETE|ct result)' | grep -v SKIPPED || true
say "run time $(($(date +%s) - start)) s"

# Per-suite totals from CT's own suite.summary files of this run.
latest=$(ls -td "$logdir"/ct_run.* | head -1)
: >"$logdir/summary.txt"
for s in "${suites[@]}"; do
    f=$(ls "$latest"/*."$s"{,.cases}.logs/run.*/suite.summary 2>/dev/null | head -1 || true)
    if [ -n "$f" ]; then
        erl -noshell -eval "{ok, [{summary, {Ok, Failed, USkip, ASkip}}]} = file:consult(\"$f\"),
            io:format(\"~s ok ~p failed ~p skipped ~p~n\", ['$s', Ok, Failed, USkip + ASkip]), halt()." \
            >>"$logdir/summary.txt" 2>/dev/null ||
            erl -noshell -eval "io:format(\"~s ~p~n\", ['$s', file:consult(\"$f\")]), halt()." >>"$logdir/summary.txt"
    else
        echo "$s no result" >>"$logdir/summary.txt"
    fi
done
echo "ext_ets served by $target:"
cat "$logdir/summary.txt"

# Failed cases of this run, SUITE:CASE, from CT's suite logs.
failed=$(for f in "$latest"/*.logs/run.*/suite.log; do
    awk '/^=case/ { c = $2 } /^=result +failed/ { print c }' "$f"
done | sort -u)
known=$(sed -e 's/#.*//' -e 's/ .*//' "$here/known_failures.txt" | grep . | sort -u)
new=$(comm -23 <(echo "$failed" | grep . || true) <(echo "$known"))
if [ -n "$new" ]; then
    echo "failed, not in known_failures.txt:"
    echo "$new" | sed 's/^/  /'
    [ "$ci" = true ] && exit 1
fi
exit 0
