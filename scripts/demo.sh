#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The demo: unmodified fio on an emulated pmem directory (tmpfs, with
# libpmem's real flush path forced), once through the kernel and once under
# libnvmmio, side by side. Installs what it needs and builds first.
# Usage: scripts/demo.sh [size in MiB, default 256]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
nvmmio_install_deps
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j "$(nproc)" --target nvmmio >/dev/null

size=${1:-256}
dir=$(mktemp -d /dev/shm/nvmmio-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
mkdir "$dir/kernel" "$dir/pmem"
lib="$top/build/libnvmmio.so"

# name | fio arguments
# Steady state: reads and overwrites run for a few seconds on a laid-out
# file; the append writes one new file from start to end.
steady="--time_based --runtime=3"
jobs="seq-read 4K|--rw=read --bs=4k $steady
rand-read 4K|--rw=randread --bs=4k $steady
append 4K|--rw=write --bs=4k --create_on_open=1
rand-overwrite 4K, fsync/32|--rw=randwrite --bs=4k --fsync=32 --overwrite=1 $steady
rand-overwrite 4K, sync mode|--rw=randwrite --bs=4k --overwrite=1 --sync=1 $steady"

run_fio() { # directory, fio args...
    d=$1
    shift
    rm -f "$d"/demo*
    fio --name=demo --directory="$d" --size="${size}m" --ioengine=psync --fallocate=none \
        --output-format=json "$@" 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(round((j["read"]["bw"]+j["write"]["bw"])/1024))'
}

printf '%-30s %12s %12s %8s\n' "workload (fio psync, ${size} MiB)" "kernel MB/s" "nvmmio MB/s" "ratio"
echo "$jobs" | while IFS='|' read -r name args; do
    k=$(run_fio "$dir/kernel" $args)
    n=$(PMEM_IS_PMEM_FORCE=1 LD_PRELOAD="$lib" NVMMIO_PATH="$dir/pmem" run_fio "$dir/pmem" $args)
    printf '%-30s %12s %12s %7sx\n' "$name" "$k" "$n" "$(python3 -c "print(round($n/max($k,1),2))")"
done
echo "(same machine, same run; tmpfs with PMEM_IS_PMEM_FORCE=1 as the pmem root;"
echo " evaluation/run_all.sh has the full table with raw mmap as the limit)"
