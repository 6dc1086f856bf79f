#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/run_all.sh - the whole evaluation: fio on the 4 KiB-page tmpfs
# and on a huge=always tmpfs, the applications (sqlite3, RocksDB, Redis; each
# on both media, kernel and library alternating) and start-up; results under
# evaluation/results/ (see the README.md there).
#
# Usage: evaluation/run_all.sh [--quick] [--dax] [--only LIST]
#
#   --quick      short runs and small sizes in every script
#   --dax        also run fio on ext4-DAX inside scripts/pmem-vm.sh (slow:
#                emulated CPU; relative figures only)
#   --only LIST  comma list of steps to run: fio, fio-huge, sqlite, rocksdb,
#                redis, startup, files, tx (default: all of them)
#
# Each step prints a header with its number and the time so far, and the
# scripts print one line per run while they work. The huge-page medium is a
# tmpfs each script mounts for itself (root only; skipped with a message
# otherwise) and unmounts at its end.
#
# Builds the library once (see common.sh; NVMMIO_LIB overrides) and passes
# it to every script. A script that fails does not stop the others; the exit
# status is 1 when any of them failed. Timing is never asserted.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=() DAX=0 ONLY=fio,fio-huge,sqlite,rocksdb,redis,startup,files,tx
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=(--quick) ;;
    --dax) DAX=1 ;;
    --only) ONLY=$2; shift ;;
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
total0=$(date +%s)
: >"$LOG"
failed=()
timings=()
steps=$(($(tr ',' '\n' <<<"$ONLY" | grep -c .) + DAX))
done_steps=0
step() { # name, command...
    local name=$1 t0 status=0
    shift
    [[ ,$ONLY, == *,$name,* || $name == fio-dax ]] || return 0
    t0=$(date +%s)
    done_steps=$((done_steps + 1))
    echo "=== run_all.sh: step $done_steps of $steps: $name ($((t0 - total0)) s so far, $(date '+%T'))" | tee -a "$LOG"
    "$@" --out "$OUT" 2>&1 | tee -a "$LOG"
    status=${PIPESTATUS[0]}
    timings+=("$(printf '%-10s %5d s%s' "$name" $(($(date +%s) - t0)) "$([ "$status" -eq 0 ] || echo "  FAILED (exit $status)")")")
    [ "$status" -eq 0 ] || failed+=("$name")
    echo | tee -a "$LOG"
}

step fio "$HERE/fio/run.sh" "${QUICK[@]}"
step fio-huge "$HERE/fio/run.sh" --medium huge "${QUICK[@]}"
step sqlite "$HERE/apps/sqlite.sh" "${QUICK[@]}"
step rocksdb "$HERE/apps/rocksdb.sh" "${QUICK[@]}"
step redis "$HERE/apps/redis.sh" "${QUICK[@]}"
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
