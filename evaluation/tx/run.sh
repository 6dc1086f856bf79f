#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/tx/run.sh - the cost of a two-file transaction against two
# fsyncs: txbench.c (compiled here against the library) updates two 16 MiB
# files with one write each, at random block-aligned offsets, per update.
#
# Usage: evaluation/tx/run.sh [--quick] [--rounds N] [--iterations N] [--out DIR]
#
#   --rounds N      rounds of every mode, taken in turn (default 3)
#   --iterations N  updates per run (default 20000; --quick 2000)
#   --out DIR       results directory (default evaluation/results):
#                   tx.csv (every run) and tx.txt (the table of medians)
#
# Modes, on a tmpfs directory with PMEM_IS_PMEM_FORCE=1: tx (begin, pwrite
# to each file, commit), fsync2 (pwrite and fsync of each file in turn),
# nosync (the two pwrites alone, no durability point), all under the
# library (O_ATOMIC files); kernel-fsync2 is fsync2 through the kernel.
# Sizes 4 KiB and 64 KiB. The table gives the median ns per update of both
# files and tx / fsync2.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=0 ROUNDS=3 ITERS='' OUT=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --iterations) ITERS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$ITERS" ] || ITERS=$([ "$QUICK" = 1 ] && echo 2000 || echo 20000)

# shellcheck source=../common.sh
. "$HERE/../common.sh"
eval_need_packages gcc libc6-dev
eval_need_commands gcc
eval_library

OUT=${OUT:-$EVAL_TOP/evaluation/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
{
    echo "== two files updated together: one transaction vs two fsyncs"
    eval_machine
} | tee "$OUT/tx.txt"
eval_shm_dir tx
libdir=$(dirname "$EVAL_LIB")
gcc -O2 -std=gnu11 -I"$EVAL_TOP/include" -o "$EVAL_SHM/txbench" "$HERE/txbench.c" \
    "$EVAL_LIB" -Wl,-rpath,"$libdir"
modes="tx fsync2 nosync kernel-fsync2"
echo "size,mode,round,ns_per_update" >"$OUT/tx.csv"
for size in 4096 65536; do
    for round in $(seq 1 "$ROUNDS"); do
        for mode in $modes; do
            mkdir -p "$EVAL_SHM/d"
            ns=$(env -u NVMMIO_PATH -u PMEM_PATH PMEM_IS_PMEM_FORCE=1 \
                "$EVAL_SHM/txbench" "$mode" "$EVAL_SHM/d" "$size" "$ITERS")
            rm -rf "$EVAL_SHM/d"
            echo "$size,$mode,$round,$ns" >>"$OUT/tx.csv"
        done
    done
done
python3 - "$OUT/tx.csv" <<'PY' | tee -a "$OUT/tx.txt"
import csv, statistics, sys
runs = {}
for r in csv.DictReader(open(sys.argv[1])):
    runs.setdefault((int(r["size"]), r["mode"]), []).append(float(r["ns_per_update"]))
print(f"{'size':>6} {'mode':<14} {'median ns':>10}  runs")
for (size, mode), v in sorted(runs.items()):
    print(f"{size:>6} {mode:<14} {statistics.median(v):>10.0f}  {' '.join(f'{x:.0f}' for x in v)}")
for size in sorted({s for s, _ in runs}):
    tx, f2 = statistics.median(runs[(size, "tx")]), statistics.median(runs[(size, "fsync2")])
    print(f"{size:>6} tx / fsync2 = {tx / f2:.2f}")
PY
eval_cleanup_shm
