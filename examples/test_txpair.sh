#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test_txpair.sh TXPAIR - the two-file transactions example killed with
# SIGKILL at random moments, 20 times: after each kill both accounts must be
# at the same transfer and add up to the total (txpair check), never at an
# earlier transfer than seen before; then a run that ends by itself must
# leave exactly its committed transfers.
set -u
txpair=$1
. "$(dirname "$0")/killtest.sh" txpair

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
    killed_run "$run" running "$txpair" transfer "$dir" || break
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
