#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test_txpair.sh TXPAIR - the two-file transactions example killed with
# SIGKILL at random moments, 20 times: after each kill both accounts must be
# at the same transfer and add up to the total (txpair check), never at an
# earlier transfer than seen before; then a run that ends by itself must
# leave exactly its committed transfers.
set -u
txpair=$1
dir=$(mktemp -d /dev/shm/nvmmio-txpair.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# The transfer the accounts are at, or nothing when they disagree.
at_transfer() {
    local out
    out=$("$txpair" check "$dir") || {
        fail "$1: $out"
        return 1
    }
    out=${out#transfer }
    echo "${out%%:*}"
}

"$txpair" init "$dir" 1000 || exit 1
seen=0
for run in $(seq 20); do
    "$txpair" transfer "$dir" >"$dir/out" 2>&1 &
    pid=$!
    # Killed at once, or after its first transfer, up to 100 ms later.
    if [ $((run % 4)) -ne 0 ]; then
        for _ in $(seq 200); do
            grep -q running "$dir/out" && break
            sleep 0.01
        done
        sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
    fi
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    pid=
    if grep -q "not managed" "$dir/out"; then
        fail "the accounts are not managed by the library"
        break
    fi
    now=$(at_transfer "run $run") || break
    [ "$now" -ge "$seen" ] || fail "run $run: at transfer $now after the kill, $seen before"
    seen=$now
done
out=$("$txpair" transfer "$dir" 200) || fail "the last run: $out"
aborted=${out#*, }
aborted=${aborted% aborted}
now=$(at_transfer "the last run") &&
    { [ "$now" -eq $((seen + 200 - aborted)) ] ||
        fail "the last run: at transfer $now, expected $seen + 200 - $aborted aborted"; }
echo "at transfer $now after 20 kills and 200 more transfers ($aborted aborted)"
[ "$now" -gt 200 ] || fail "no transfer was committed before the kills"
[ "$failures" -eq 0 ] && echo "all passed"
[ "$failures" -eq 0 ]
