#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/files/run.sh - the cost of a managed file against the kernel's,
# in the same run and on the same medium: filecost.c opens N new files,
# writes 100 bytes to each, keeps them all open, fsyncs and closes them,
# then makes M more one at a time (open, write 100 B, close: "churn").
#
# Usage: evaluation/files/run.sh [--quick] [--rounds R] [--n N] [--churn M]
#                                [--limit L] [--dir DIR] [--out DIR]
#
#   --rounds R  runs of each side, alternating (default 3; --quick 1);
#               the table shows medians
#   --n N       files kept open at once (default 19990)
#   --churn M   files made one at a time afterwards (default 5000)
#   --limit L   the descriptor limit of the runs (default 20000)
#   --dir DIR   the medium: a directory on tmpfs (default a fresh one
#               under /dev/shm); the library runs with PMEM_IS_PMEM_FORCE=1
#   --out DIR   results directory (default evaluation/results): files.csv
#               and files.txt (the printed table)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS='' N=19990 CHURN=5000 LIMIT=20000 DIR='' OUT=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=${ROUNDS:-1} ;;
    --rounds) ROUNDS=$2; shift ;;
    --n) N=$2; shift ;;
    --churn) CHURN=$2; shift ;;
    --limit) LIMIT=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
ROUNDS=${ROUNDS:-3}
for v in "$ROUNDS" "$N" "$CHURN" "$LIMIT"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "--rounds, --n, --churn and --limit take integers" >&2; exit 2; }
done

# shellcheck source=../common.sh
. "$HERE/../common.sh"
eval_need_commands gcc python3
eval_library

OUT=${OUT:-$EVAL_TOP/evaluation/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
eval_shm_dir files
BASE=${DIR:-$EVAL_SHM}
gcc -O2 -o "$EVAL_SHM/filecost" "$HERE/filecost.c"
{
    echo "== cost per file: $N files kept open, then $CHURN made one at a time (limit $LIMIT descriptors)"
    eval_machine
    echo "medium:  $(stat -f -c %T "$BASE") ($BASE)"
} | tee "$OUT/files.txt"

raw=$EVAL_SHM/raw.txt
: >"$raw"
for ((r = 1; r <= ROUNDS; r++)); do
    for side in kernel library; do
        d=$BASE/run-$side-$r
        rm -rf "$d"
        mkdir -p "$d"
        if [ "$side" = kernel ]; then
            line=$(ulimit -n "$LIMIT" && "$EVAL_SHM/filecost" "$d" "$N" churn "$CHURN")
        else
            line=$(ulimit -n "$LIMIT" && NVMMIO_PATH=$d PMEM_IS_PMEM_FORCE=1 LD_PRELOAD=$EVAL_LIB \
                "$EVAL_SHM/filecost" "$d" "$N" churn "$CHURN")
        fi
        echo "$side $line" | tee -a "$raw" >&2
        rm -rf "$d"
    done
done

python3 - "$raw" "$OUT/files.csv" <<'PY' | tee -a "$OUT/files.txt"
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, *pairs = line.split()
    rows.setdefault(side, []).append({k: float(v) for k, v in (p.split("=") for p in pairs)})
keys = [("opened", "files open at once", "%.0f"), ("managed", "of them served by the library", "%.0f"),
        ("stop", "errno that stopped opening", "%.0f"),
        ("open_write_us", "open + write 100 B, us per file", "%.1f"),
        ("fsync_us", "fsync, us per file", "%.1f"), ("close_us", "close, us per file", "%.1f"),
        ("churn_us", "open + write + close one at a time, us", "%.1f"),
        ("extra_fds", "descriptors held, all open", "%.0f"),
        ("extra_maps", "mappings held, all open", "%.0f"),
        ("maxrss_kb", "peak RSS, KiB", "%.0f"),
        ("medium_kb", "medium in use, all open, KiB", "%.0f")]
med = {s: {k: statistics.median(r[k] for r in rs) for k, _, _ in keys} for s, rs in rows.items()}
print("%-40s %12s %12s %9s" % ("median of %d" % len(rows["kernel"]), "kernel", "library", "lib/kern"))
with open(sys.argv[2], "w") as csv:
    csv.write("metric,kernel,library\n")
    for k, label, fmt in keys:
        a, b = med["kernel"][k], med["library"][k]
        ratio = "%.2fx" % (b / a) if a else "-"
        print("%-40s %12s %12s %9s" % (label, fmt % a, fmt % b, ratio))
        csv.write("%s,%g,%g\n" % (k, a, b))
    per = lambda s: med[s]["maxrss_kb"] / max(med[s]["opened"], 1)
    print("%-40s %12.2f %12.2f" % ("peak RSS per open file, KiB", per("kernel"), per("library")))
    per = lambda s: med[s]["medium_kb"] / max(med[s]["opened"], 1)
    print("%-40s %12.2f %12.2f" % ("medium per open file, KiB", per("kernel"), per("library")))
PY
