#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/startup/run.sh - start-up cost of libnvmmio: max RSS and wall
# time of trivial programs with and without LD_PRELOAD of the library.
#
# Usage: evaluation/startup/run.sh [--quick] [--runs N] [--out DIR]
#
#   --runs N    timed runs per command (default 200; --quick 50)
#   --out DIR   results directory (default evaluation/results):
#               startup.csv and startup.txt (the printed table)
#
# Programs: /bin/true; openread (openread.c, compiled here) opening, reading
# and closing one 4 KiB file outside the pmem root; and, as an extra, the
# same on a file inside the root (a managed open: owner lock, mapping,
# commit at close). NVMMIO_PATH points at a tmpfs directory in both cases.
# Wall time with hyperfine (installed from Debian when missing; a python
# loop otherwise), max RSS with /usr/bin/time -f %M. See measure.py.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=0 RUNS='' OUT=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --runs) RUNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$RUNS" ] || RUNS=$([ "$QUICK" = 1 ] && echo 50 || echo 200)
if ! [[ $RUNS =~ ^[0-9]+$ ]] || [ "$RUNS" -lt 2 ]; then echo "--runs must be an integer >= 2" >&2; exit 2; fi

# shellcheck source=../common.sh
. "$HERE/../common.sh"
eval_need_packages time python3 gcc libc6-dev hyperfine
eval_need_commands python3 gcc /usr/bin/time
eval_library

OUT=${OUT:-$EVAL_TOP/evaluation/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
start=$(date +%s)
{
    echo "== start-up cost: without vs with LD_PRELOAD=libnvmmio.so"
    eval_machine
} | tee "$OUT/startup.txt"
eval_shm_dir startup
mkdir -p "$EVAL_SHM/root" "$EVAL_SHM/plain"
gcc -O2 -o "$EVAL_SHM/openread" "$HERE/openread.c"
head -c 4096 /dev/urandom >"$EVAL_SHM/plain/data"
cp "$EVAL_SHM/plain/data" "$EVAL_SHM/root/data"
rss_runs=$((RUNS < 20 ? RUNS : 20))
python3 "$HERE/measure.py" --lib "$EVAL_LIB" --root "$EVAL_SHM/root" --openread "$EVAL_SHM/openread" \
    --plain-file "$EVAL_SHM/plain/data" --managed-file "$EVAL_SHM/root/data" \
    --runs "$RUNS" --rss-runs "$rss_runs" --csv "$OUT/startup.csv" | tee -a "$OUT/startup.txt"
eval_cleanup_shm
echo "startup/run.sh took $(($(date +%s) - start)) s" | tee -a "$OUT/startup.txt"
