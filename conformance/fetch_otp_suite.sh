#!/usr/bin/env bash
# fetch_otp_suite.sh CACHE_DIR SUITE_NAME
#
# Prints the directory that holds lib/stdlib/test/SUITE_NAME.erl (and its
# SUITE_NAME_data/ when the suite has one) of the INSTALLED Erlang/OTP
# release, taken from Debian's source package `erlang':
#   1. enables deb-src for the configured Debian suites if needed (a file
#      /etc/apt/sources.list.d/tsunami-deb-src.sources, or .list, mirroring
#      the `deb' entries) and runs apt-get update;
#   2. apt-get source --download-only erlang=<installed version> into
#      CACHE_DIR/otp-<OTP version>/dl (about 48 MB, downloaded once);
#   3. extracts only the suite and its data dir from the orig tarball into
#      CACHE_DIR/otp-<OTP version>/src, plus, into src/helpers, the OTP test
#      helper modules the suite calls that no installed application has, and
#      applies the Debian patches that touch the suite (none do for 25.2.3).
# Nothing is written inside the repository. A second call finds everything
# in the cache and touches neither apt nor the network.
set -euo pipefail

cache=$1
name=$2
say() { echo "conformance: $*" >&2; }
die() { say "$*"; exit 1; }

otp=$(erl -noshell -eval '
    R = erlang:system_info(otp_release),
    F = filename:join([code:root_dir(), "releases", R, "OTP_VERSION"]),
    {ok, V} = file:read_file(F), io:put_chars(string:trim(V)), halt().')
base=$cache/otp-$otp
src=$base/src
testdir=$src/lib/stdlib/test
marker=$src/.extracted-$name

if [ -f "$marker" ]; then
    echo "$testdir"
    exit 0
fi

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root for: $*"; fi
}

# deb-src entries mirroring the Debian `deb' entries, when none exist.
enable_deb_src() {
    if apt-cache showsrc erlang 2>/dev/null | grep -q '^Package: erlang'; then
        return
    fi
    if ! grep -Rqs -e '^deb-src ' -e '^Types:.*deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            say "enabling deb-src: /etc/apt/sources.list.d/tsunami-deb-src.sources"
            awk 'function flush() { if (keep) { for (i = 1; i <= n; i++) print line[i]; print "" }
                                    n = 0; keep = 0 }
                 /^[ \t]*$/ { flush(); next }
                 /^Types:/   { for (i = 2; i <= NF; i++) if ($i == "deb") keep = 1
                               line[++n] = "Types: deb-src"; next }
                             { line[++n] = $0 }
                 END         { flush() }' /etc/apt/sources.list.d/debian.sources |
                as_root tee /etc/apt/sources.list.d/tsunami-deb-src.sources >/dev/null
        else
            say "enabling deb-src: /etc/apt/sources.list.d/tsunami-deb-src.list"
            sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list |
                as_root tee /etc/apt/sources.list.d/tsunami-deb-src.list >/dev/null
        fi
    fi
    say "apt-get update (source indexes)"
    as_root apt-get update -qq >&2
}

download() {
    mkdir -p "$base/dl"
    if ls "$base/dl"/erlang_*.orig.tar.* >/dev/null 2>&1; then return; fi
    enable_deb_src
    local version
    version=$(dpkg-query -W -f='${source:Version}' erlang-base 2>/dev/null || true)
    say "downloading Debian source package erlang${version:+=$version} into $base/dl"
    (cd "$base/dl" &&
        { [ -n "$version" ] && apt-get source -qq -o APT::Sandbox::User=root --download-only "erlang=$version" >&2 ||
          apt-get source -qq -o APT::Sandbox::User=root --download-only erlang >&2; }) ||
        die "apt-get source erlang failed"
}

extract() {
    local orig top=otp-OTP-$otp
    orig=$(ls "$base/dl"/erlang_*.orig.tar.*)
    mkdir -p "$src"
    say "extracting lib/stdlib/test/$name.erl from $(basename "$orig")"
    tar -xf "$orig" -C "$src" --strip-components=1 --wildcards \
        "$top/lib/stdlib/test/$name.erl" "$top/lib/stdlib/test/${name}_data" 2>/dev/null ||
        tar -xf "$orig" -C "$src" --strip-components=1 "$top/lib/stdlib/test/$name.erl" ||
        die "no $top/lib/stdlib/test/$name.erl in $(basename "$orig") (installed: OTP $otp)"
}

# OTP test helpers the suite calls that no installed application provides
# (ets_SUITE: erts_test_utils, from erts/emulator/test) go to src/helpers/.
extract_helpers() {
    local orig mods missing m member
    orig=$(ls "$base/dl"/erlang_*.orig.tar.*)
    mods=$(grep -oE '\<[a-z][a-z_0-9]*:[a-z][a-z_0-9]*\(' "$testdir/$name.erl" | cut -d: -f1 | sort -u)
    # shellcheck disable=SC2086 # one argument per module name
    missing=$(erl -noshell -eval '[io:format("~s~n", [M]) || M <- init:get_plain_arguments(),
                                   code:which(list_to_atom(M)) =:= non_existing], halt().' -extra $mods)
    [ -n "$missing" ] || return 0
    [ -s "$base/dl/orig.list" ] || tar -tf "$orig" >"$base/dl/orig.list"
    mkdir -p "$src/helpers"
    for m in $missing; do
        if member=$(grep -m1 "/test/$m\.erl\$" "$base/dl/orig.list"); then
            say "extracting helper ${member#*/}"
            tar -xOf "$orig" "$member" >"$src/helpers/$m.erl"
        fi
    done
}

# Debian patches that touch the extracted files, in series order.
apply_debian_patches() {
    local deb patches p
    deb=$(ls "$base/dl"/erlang_*.debian.tar.* 2>/dev/null) || return 0
    patches=$(mktemp -d)
    tar -xf "$deb" -C "$patches" debian/patches 2>/dev/null || { rm -rf "$patches"; return 0; }
    while read -r p; do
        p=${p%%#*}
        [ -n "$p" ] || continue
        if grep -q "^+++ [^ ]*lib/stdlib/test/${name}[._]" "$patches/debian/patches/$p"; then
            say "applying Debian patch $p"
            patch -s -d "$src" -p1 --no-backup-if-mismatch <"$patches/debian/patches/$p" >&2 ||
                die "Debian patch $p does not apply"
        fi
    done <"$patches/debian/patches/series"
    rm -rf "$patches"
}

download
extract
extract_helpers
apply_debian_patches
touch "$marker"
echo "$testdir"
