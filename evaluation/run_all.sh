#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/run_all.sh - the whole evaluation: fio, sqlite and start-up,
# results under evaluation/results/ (see the README.md there).
#
# Usage: evaluation/run_all.sh [--quick] [--dax]
#
#   --quick   short runs and small sizes in every script
#   --dax     also run fio on ext4-DAX inside scripts/pmem-vm.sh (slow:
#             emulated CPU; relative figures only)
#
# Builds the library once (see common.sh; NVMMIO_LIB overrides) and passes
# it to every script. A script that fails does not stop the others; the exit
# status is 1 when any of them failed. Timing is never asserted.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=() DAX=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=(--quick) ;;
    --dax) DAX=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=common.sh
. "$HERE/common.sh"
OUT=$HERE/results
mkdir -p "$OUT"
# The results are not versioned, except this directory's README.md.
[ -f "$OUT/.gitignore" ] || printf '*\n!.gitignore\n!README.md\n' >"$OUT/.gitignore"
eval_library
export NVMMIO_LIB=$EVAL_LIB NVMMIO_EVAL_BUILT_FROM=$EVAL_BUILT_FROM

LOG=$OUT/run_all.log
: >"$LOG"
failed=()
timings=()
step() { # name, command...
    local name=$1 t0 status=0
    shift
    t0=$(date +%s)
    "$@" --out "$OUT" 2>&1 | tee -a "$LOG"
    status=${PIPESTATUS[0]}
    timings+=("$(printf '%-10s %5d s%s' "$name" $(($(date +%s) - t0)) "$([ "$status" -eq 0 ] || echo "  FAILED (exit $status)")")")
    [ "$status" -eq 0 ] || failed+=("$name")
    echo | tee -a "$LOG"
}

total0=$(date +%s)
step fio "$HERE/fio/run.sh" "${QUICK[@]}"
step sqlite "$HERE/sqlite/run.sh" "${QUICK[@]}"
step startup "$HERE/startup/run.sh" "${QUICK[@]}"
step files "$HERE/files/run.sh" "${QUICK[@]}"
step tx "$HERE/tx/run.sh" "${QUICK[@]}"
[ "$DAX" = 0 ] || step fio-dax "$HERE/fio/run.sh" --dax "${QUICK[@]}"

{
    echo "== run_all.sh: time per script"
    printf '%s\n' "${timings[@]}"
    printf '%-10s %5d s\n' total $(($(date +%s) - total0))
    echo "results in $OUT"
} | tee -a "$LOG"
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" | tee -a "$LOG"; exit 1; }
