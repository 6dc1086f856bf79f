#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/fio/processes.sh - one file served by two processes: fio jobs
# as processes (no --thread), two of them writing disjoint halves of one
# file, or reading it, against one job doing the same alone; under the
# library and through the kernel, in turn, ROUNDS times, medians printed
# with the two-process / one-process ratio.
#
# Usage: evaluation/fio/processes.sh [--rounds N] [--runtime S] [--size MB] LIB
#
# Medium: a fresh directory under /dev/shm, PMEM_IS_PMEM_FORCE=1 for the
# library. Figures are MB/s (10^6 bytes/s, all jobs together); timing is
# never asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../common.sh
. "$HERE/../common.sh"

rounds=3 runtime=4 size=128
while [ $# -gt 1 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) echo "unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
eval_need_commands fio python3
lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

eval_shm_dir processes
dir=$EVAL_SHM

# run MODE JOBS RW: aggregate MB/s of JOBS processes over one file, each on
# its own part of it.
run() {
    local mode=$1 jobs=$2 rw=$3 part=$((size / $2))
    local env=()
    [ "$mode" = lib ] && env=(LD_PRELOAD="$lib" NVMMIO_PATH="$dir" PMEM_IS_PMEM_FORCE=1)
    rm -f "$dir/f" && mkdir -p "$dir/.nvmmio"
    # The file is laid out first, so every run reads and overwrites the same
    # bytes.
    fio --name=lay --filename="$dir/f" --rw=write --bs=1M --size="${size}M" \
        --ioengine=psync --output-format=terse >/dev/null
    env "${env[@]}" fio --name=p --filename="$dir/f" --rw="$rw" --bs=4k --ioengine=psync \
        --numjobs="$jobs" --size="${part}M" --offset_increment="${part}M" \
        --time_based --runtime="$runtime" --group_reporting --output-format=json |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]
print(round((j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1e6))'
}

eval_machine
echo "medium: $dir (tmpfs), ${size} MB, ${runtime} s a run, $rounds rounds in turn"
printf '%-12s %-7s %8s %8s %8s\n' row path "1 proc" "2 procs" ratio
for rw in randwrite randread; do
    for mode in lib kernel; do
        one=() two=()
        for _ in $(seq "$rounds"); do
            one+=("$(run "$mode" 1 "$rw")")
            two+=("$(run "$mode" 2 "$rw")")
        done
        python3 - "$rw" "$mode" "${one[*]}" "${two[*]}" <<'EOF'
import statistics, sys
rw, mode, one, two = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
a = statistics.median(map(int, one)); b = statistics.median(map(int, two))
print(f"{rw:<12} {mode:<7} {a:8.0f} {b:8.0f} {b / a:8.2f}")
EOF
    done
done
