#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test_applog.sh APPLOG - the append-only log example killed with SIGKILL at
# random moments, 40 times: after each kill the log must be whole records
# numbered from 0 (applog verify), never fewer than it held when that run
# began, and the log must grow over the runs.
set -u
applog=$1
dir=$(mktemp -d /dev/shm/nvmmio-applog.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
log=$dir/log
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

count=0
for run in $(seq 40); do
    "$applog" append "$log" $((RANDOM % 8 + 1)) >"$dir/out" 2>&1 &
    pid=$!
    # Killed at once, or after it started appending, up to 100 ms later.
    if [ $((run % 4)) -ne 0 ]; then
        for _ in $(seq 200); do
            grep -q records "$dir/out" && break
            sleep 0.01
        done
        sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
    fi
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    pid=
    if grep -q "not managed" "$dir/out"; then
        fail "the log is not managed by the library"
        break
    fi
    out=$("$applog" verify "$log") || {
        fail "run $run: $out"
        break
    }
    now=${out% records}
    [ "$now" -ge "$count" ] || fail "run $run: $now records after the kill, $count before"
    count=$now
done
echo "$count records after 40 kills, $(stat -c %s "$log") bytes"
[ "$count" -gt 0 ] || fail "no record ever became durable"
[ "$failures" -eq 0 ] && echo "all passed"
[ "$failures" -eq 0 ]
