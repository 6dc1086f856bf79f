#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/sqlite/run.sh - Mobibench-style SQLite benchmark with the sqlite3
# shell, with and without libnvmmio, on one tmpfs.
#
# Usage: evaluation/sqlite/run.sh [--quick] [--n N] [--out DIR]
#
#   --n N       rows per phase (default 5000; --quick 500)
#   --out DIR   results directory (default evaluation/results): sqlite.csv
#               and sqlite.txt (the printed table)
#
# For each journal mode DELETE, WAL and OFF: N inserts, then N updates, then
# N deletes on t(id INTEGER PRIMARY KEY, payload TEXT) with a 100-byte
# payload, every statement its own transaction; transactions/s per phase.
# The library runs with LD_PRELOAD, NVMMIO_PATH=<the database directory> and
# PMEM_IS_PMEM_FORCE=1. See bench.py for the details. Timing is reported,
# never asserted.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=0 N='' OUT=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --n) N=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$N" ] || N=$([ "$QUICK" = 1 ] && echo 500 || echo 5000)
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -eq 0 ]; then echo "--n must be a positive integer" >&2; exit 2; fi

# shellcheck source=../common.sh
. "$HERE/../common.sh"
eval_need_packages sqlite3 python3
eval_need_commands sqlite3 python3
eval_library

OUT=${OUT:-$EVAL_TOP/evaluation/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
start=$(date +%s)
{
    echo "== sqlite: kernel vs libnvmmio"
    eval_machine
    echo "sqlite3: $(sqlite3 -version | cut -d' ' -f1), tmpfs /dev/shm as emulated pmem, PMEM_IS_PMEM_FORCE=1 for the library"
} | tee "$OUT/sqlite.txt"
eval_shm_dir sqlite
python3 "$HERE/bench.py" --lib "$EVAL_LIB" --dir "$EVAL_SHM" --n "$N" --csv "$OUT/sqlite.csv" | tee -a "$OUT/sqlite.txt"
eval_cleanup_shm
echo "sqlite/run.sh took $(($(date +%s) - start)) s" | tee -a "$OUT/sqlite.txt"
