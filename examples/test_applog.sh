#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test_applog.sh APPLOG - the append-only log example killed with SIGKILL at
# random moments, 40 times: after each kill the log must be whole records
# numbered from 0 (applog verify), never fewer than it held when that run
# began, and the log must grow over the runs.
set -u
applog=$1
. "$(dirname "$0")/killtest.sh" applog
log=$dir/log

count=0
for run in $(seq 40); do
    killed_run "$run" records "$applog" append "$log" $((RANDOM % 8 + 1)) || break
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
