#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The share gate (CMakeLists.txt here): runs one share test against a
# library built with a deliberate bug of the sharing protocol, and passes
# only when the test fails as a test does (exit 1, its failed checks
# printed), not when it cannot run (exit 2) or dies. The kill loop finds
# its bugs by chance: up to 3 runs, the first that fails so catches it.
#
#   gate.sh MUTANT COMMAND...
set -u
mutant=$1
shift
for run in 1 2 3; do
    out=$("$@" 2>&1)
    rc=$?
    caught=$(printf '%s\n' "$out" | grep -m1 '^FAIL')
    if [ "$rc" -eq 1 ] && [ -n "$caught" ]; then
        echo "mutant $mutant caught (run $run): $caught"
        exit 0
    fi
    printf '%s\n' "$out" | tail -20
    echo "run $run: mutant $mutant not caught (exit $rc)"
done
exit 1
