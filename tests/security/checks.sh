# SPDX-License-Identifier: BSD-3-Clause
# checks.sh - sourced by the security tests: check WHAT CMD... runs CMD and
# counts it as passed or failed; checks_done NAME prints the count and
# fails when anything failed.
passed=0 failed=0
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
    fi
}
checks_done() {
    echo "$1: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}
