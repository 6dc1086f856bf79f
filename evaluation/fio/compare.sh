#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/fio/compare.sh - two builds of the library side by side in one
# run, for before/after figures of a change: each fio row runs under build A,
# build B and the kernel in turn, ROUNDS times, and the medians are printed
# with A/B and A/kernel.
#
# Usage: evaluation/fio/compare.sh [--rounds N] [--runtime S] [--size MB]
#                                  [--only REGEX] [--medium M] [--busy] A B
#
#   A, B          a libnvmmio.so, or a git revision of this repository
#                 (built into /tmp/nvmmio-compare-REV from `git archive`)
#   --rounds N    runs of each row under each build (default 3)
#   --runtime S   seconds per fio run (default 4)
#   --size MB     file size (default 128)
#   --only REGEX  only the rows whose id matches
#   --medium M    tmpfs (default: a directory under /dev/shm, 4 KiB pages)
#                 or huge (a tmpfs of its own mounted huge=always; root)
#   --busy        a CPU-bound process runs beside every fio run (as
#                 busy.sh does)
#
# Medium: a fresh directory on it, PMEM_IS_PMEM_FORCE=1 for the
# library; the kernel row is fio's psync engine on the same tmpfs. Figures
# are MB/s (10^6 bytes/s), medians of the rounds; timing is never asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../common.sh
. "$HERE/../common.sh"

rounds=3 runtime=4 size=128 only=. medium=tmpfs busy=0
while [ $# -gt 2 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --medium) medium=$2; shift 2 ;;
    --busy) busy=1; shift ;;
    *) echo "unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
[ $# -eq 2 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
eval_need_commands fio python3 git cmake

# A .so as given, or a revision built once into its own directory.
library_of() {
    if [ -f "$1" ]; then
        readlink -f "$1"
        return
    fi
    local rev dir
    rev=$(git -C "$EVAL_TOP" rev-parse --short "$1^{commit}") || { eval_note "no revision $1"; exit 2; }
    dir=/tmp/nvmmio-compare-$rev
    if [ ! -f "$dir/build/libnvmmio.so" ]; then
        rm -rf "$dir" && mkdir -p "$dir/src"
        git -C "$EVAL_TOP" archive "$rev" | tar -x -C "$dir/src"
        cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
            cmake --build "$dir/build" -j 2 --target nvmmio >/dev/null ||
            { eval_note "building $rev failed"; exit 2; }
    fi
    readlink -f "$dir/build/libnvmmio.so"
}
lib_a=$(library_of "$1")
lib_b=$(library_of "$2")
eval_medium_dir "$medium" compare || exit 2
if [ "$busy" = 1 ]; then
    bash -c 'while :; do :; done' &
    hog=$!
    trap 'kill "$hog" 2>/dev/null; eval_cleanup_all' EXIT
fi

rows=(
    "seqread-4k|--rw=read --bs=4k --time_based"
    "randread-4k|--rw=randread --bs=4k --time_based"
    "append-4k|--rw=write --bs=4k --loops=1000000 --unlink_each_loop=1"
    "overwrite-fsync1-4k|--rw=randwrite --bs=4k --overwrite=1 --fsync=1 --time_based"
    "overwrite-fsync32-4k|--rw=randwrite --bs=4k --overwrite=1 --fsync=32 --time_based"
    "overwrite-nofsync-4k|--rw=randwrite --bs=4k --overwrite=1 --time_based"
    "overwrite-sync-4k|--rw=randwrite --bs=4k --overwrite=1 --sync=1 --time_based"
    "overwrite-sync-64k|--rw=randwrite --bs=64k --overwrite=1 --sync=1 --time_based"
    "sparse-fsync1-4k|--rw=randwrite --bs=4k --filesize=2g --fallocate=none --fsync=1 --time_based"
)

# One fio run: library (or "" for the kernel) and the row's arguments;
# prints MB/s.
one() {
    local dir=$EVAL_MEDIUM_DIR/run preload=()
    rm -rf "$dir" && mkdir -p "$dir"
    [ -n "$1" ] && preload=(LD_PRELOAD="$1" NVMMIO_PATH="$dir" PMEM_IS_PMEM_FORCE=1)
    # shellcheck disable=SC2086
    env "${preload[@]}" fio --name=compare --directory="$dir" --size="${size}m" \
        --runtime="${runtime}s" --fallocate=none --thread --group_reporting \
        --output-format=json $2 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]
print(round((j["write"]["bw_bytes"]+j["read"]["bw_bytes"])/1e6))'
    rm -rf "$dir"
}

eval_machine | grep -v "^library:"
echo "A: $1 ($lib_a)"
echo "B: $2 ($lib_b)"
echo "medium: $EVAL_MEDIUM_DIR ($(eval_medium_text "$medium"))$([ "$busy" = 1 ] && echo ", a CPU-bound process beside"), $size MB, ${runtime} s a run, $rounds rounds in turn"
printf '%-22s %8s %8s %8s %7s %8s\n' row A B kernel A/B A/kernel
for r in "${rows[@]}"; do
    id=${r%%|*} args=${r#*|}
    [[ $id =~ $only ]] || continue
    a=() b=() k=()
    for ((i = 0; i < rounds; i++)); do
        a+=("$(one "$lib_a" "$args")")
        b+=("$(one "$lib_b" "$args")")
        k+=("$(one "" "$args")")
    done
    python3 - "$id" "${a[*]}" "${b[*]}" "${k[*]}" <<'EOF'
import statistics as st, sys
a, b, k = (st.median(int(x) for x in s.split()) for s in sys.argv[2:5])
print(f"{sys.argv[1]:22s} {a:8.0f} {b:8.0f} {k:8.0f} {a / b:7.3f} {a / k:8.2f}")
EOF
done
