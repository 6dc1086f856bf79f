#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_stats.sh counters|report|debug PROGRAM - runs nvmmio_stats (stats.c)
# in a fresh /dev/shm directory and checks, for `report`, the lines
# NVMMIO_STATS writes at exit (stderr, a file, a file that cannot be
# opened; a forked child's own), and for `debug`, what each NVMMIO_DEBUG level prints and where
# NVMMIO_DEBUG_FILE sends it.
set -u
what=$1 prog=$2
dir=$(mktemp -d /dev/shm/nvmmio-stats.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
unset NVMMIO_PATH PMEM_PATH NVMMIO_STATS NVMMIO_DEBUG NVMMIO_DEBUG_FILE
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# has FILE PATTERN [COUNT]: FILE has COUNT (default: at least one) lines
# matching the extended regex.
has() {
    local n
    n=$(grep -cE -- "$2" "$1" 2>/dev/null)
    n=${n:-0}
    if [ $# -eq 3 ]; then
        [ "$n" -eq "$3" ] || fail "$1: $n lines match '$2', expected $3"
    else
        [ "$n" -ge 1 ] || fail "$1: no line matches '$2'"
    fi
}

# run NAME [VAR=VALUE]...: the scripted run with those settings, its
# stderr in $dir/NAME.err; it must exit 0. Lines of a sanitizer's runtime
# (==PID==...: LeakSanitizer warns in a child forked from a process with
# threads, the library's helper among them) are not the library's output
# and are left out; a leak it finds fails the exit status.
run() {
    local name=$1
    shift
    env "$@" "$prog" script "$dir" >"$dir/$name.out" 2>"$dir/$name.raw" ||
        fail "$name: exit status $? (stderr: $(cat "$dir/$name.raw"))"
    grep -vE '^==[0-9]+==' "$dir/$name.raw" >"$dir/$name.err"
}

case $what in
counters)
    "$prog" counters "$dir" || fail "counters"
    ;;
report)
    file="nvmmio-stats file reads=1 read_bytes=10 writes=3 write_bytes=12288 fsyncs=1 "
    run stderr NVMMIO_STATS=1
    cat "$dir/stderr.err"
    has "$dir/stderr.err" "^${file}truncates=0 .* epochs=[1-9][0-9]* .* path=$dir/a\$" 1
    has "$dir/stderr.err" "^nvmmio-stats file reads=0 .* path=$dir/b\$" 1
    has "$dir/stderr.err" "^nvmmio-stats total files=2 ${file#nvmmio-stats file }.* fallbacks=2 .*fallback_std_stream=1 fallback_fork=1 " 1
    # the forked child's own report
    has "$dir/stderr.err" "^nvmmio-stats file reads=0 read_bytes=0 writes=1 write_bytes=1 .* path=$dir/c\$" 1
    has "$dir/stderr.err" "^nvmmio-stats total files=1 reads=0 read_bytes=0 writes=1 write_bytes=1 .* fallbacks=0 " 1
    has "$dir/stderr.err" "^nvmmio-stats" 5
    run file NVMMIO_STATS="$dir/report"
    run file2 NVMMIO_STATS="$dir/report"
    has "$dir/report" "^${file}.* path=$dir/a\$" 2
    has "$dir/report" "^nvmmio-stats total files=2 " 2
    has "$dir/file.err" "^nvmmio-stats" 0
    run unopenable NVMMIO_STATS="$dir/no/such/dir/report"
    has "$dir/unopenable.err" "libnvmmio: NVMMIO_STATS=$dir/no/such/dir/report cannot be opened" 2
    has "$dir/unopenable.err" "^nvmmio-stats" 0
    run off NVMMIO_STATS=0
    run unset
    [ -s "$dir/off.err" ] && fail "NVMMIO_STATS=0 printed: $(cat "$dir/off.err")"
    [ -s "$dir/unset.err" ] && fail "no NVMMIO_STATS printed: $(cat "$dir/unset.err")"
    ;;
debug)
    write="^libnvmmio: $dir/a: write, 4096 bytes\$"
    managed="^libnvmmio: $dir/a: managed, "
    for level in "" 0 1 errors; do
        run "errors$level" NVMMIO_DEBUG="$level"
        [ -s "$dir/errors$level.err" ] && fail "NVMMIO_DEBUG=$level printed: $(cat "$dir/errors$level.err")"
    done
    for level in 2 decisions; do
        run "$level" NVMMIO_DEBUG=$level
        has "$dir/$level.err" "$managed" 2
        has "$dir/$level.err" "^libnvmmio: descriptor 1 is a standard stream now" 1
        has "$dir/$level.err" "$write" 0
    done
    for level in 3 calls; do
        run "$level" NVMMIO_DEBUG=$level
        cat "$dir/$level.err"
        has "$dir/$level.err" "$managed" 2
        has "$dir/$level.err" "$write" 3
        has "$dir/$level.err" "^libnvmmio: $dir/a: fsync\$" 1
        has "$dir/$level.err" "^libnvmmio: $dir/a: read, 10 bytes\$" 1
    done
    run bad NVMMIO_DEBUG=loud
    has "$dir/bad.err" "^libnvmmio: NVMMIO_DEBUG=loud is not 0, 1, 2 or 3; using 1\$" 1
    run tofile NVMMIO_DEBUG=3 NVMMIO_DEBUG_FILE="$dir/log"
    run tofile2 NVMMIO_DEBUG=2 NVMMIO_DEBUG_FILE="$dir/log"
    [ -s "$dir/tofile.err" ] && fail "NVMMIO_DEBUG_FILE: stderr has $(cat "$dir/tofile.err")"
    has "$dir/log" "$write" 3
    has "$dir/log" "$managed" 4
    run nofile NVMMIO_DEBUG=2 NVMMIO_DEBUG_FILE="$dir/no/such/dir/log"
    has "$dir/nofile.err" "^libnvmmio: NVMMIO_DEBUG_FILE=$dir/no/such/dir/log cannot be opened .*; messages go to stderr\$" 1
    has "$dir/nofile.err" "$managed" 2
    ;;
*)
    echo "usage: run_stats.sh counters|report|debug PROGRAM" >&2
    exit 2
    ;;
esac
[ "$failures" -eq 0 ] && echo "all passed"
[ "$failures" -eq 0 ]
