#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# racingopen.sh LIB ROUNDS - processes under the library that open one new
# file at the same moment and extend it with interleaved pwrites: N of
# them (2, then 4, in turn) each write 200 records of 1000 bytes, record k
# of process p at (N * k + p) * 1000, and close. Whoever waits for the
# file's ownership lock while another serves it and closes it must take in
# what that one wrote (the size it read before the lock is stale): the file
# must end with every record of every process, and exactly 200 * N * 1000
# bytes. ROUNDS rounds, on plain tmpfs and forced pmem in turn. The same
# runs without the library (LIB none) are the self-check.
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 LIB|none ROUNDS" >&2
    exit 2
fi
lib=$1 rounds=$2
preload=
if [ "$lib" != none ]; then
    lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
    # A sanitizer build's library needs its runtime loaded first.
    asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
    preload=${asan:+$asan:}$lib
    export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
fi
dir=$(mktemp -d /dev/shm/nvmmio-racingopen.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
cat >"$dir/writer.py" <<'PY'
import os, sys, time
path, p, n, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
while time.time() < start:
    pass
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
for k in range(200):
    os.pwrite(fd, bytes([65 + p]) * 1000, (n * k + p) * 1000)
os.close(fd)
PY
cat >"$dir/check.py" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
d = open(path, "rb").read()
bad = [k for k in range(200 * n) if d[k * 1000:(k + 1) * 1000] != bytes([65 + k % n]) * 1000]
if bad or len(d) != 200 * n * 1000:
    print(f"FAIL: {len(d)} bytes (want {200 * n * 1000}), {len(bad)} records wrong: {bad[:8]}")
    sys.exit(1)
PY
failed=0
for r in $(seq "$rounds"); do
    n=$((r % 2 ? 2 : 4)) force=$(((r / 2) % 2))
    rm -rf "${dir:?}/root" && mkdir "$dir/root"
    env=()
    [ "$lib" = none ] || env=(LD_PRELOAD="$preload" NVMMIO_PATH="$dir/root" PMEM_IS_PMEM_FORCE=$force)
    start=$(python3 -c 'import time; print(time.time() + 0.2)')
    pids=()
    for p in $(seq 0 $((n - 1))); do
        env "${env[@]}" python3 "$dir/writer.py" "$dir/root/f" "$p" "$n" "$start" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || { echo "FAIL: round $r: a writer exited with $?"; failed=1; }
    done
    python3 "$dir/check.py" "$dir/root/f" "$n" || { echo "  round $r: $n writers, forced pmem $force"; failed=1; }
done
[ $failed -eq 0 ] && echo "racingopen: $rounds rounds, every record there"
exit $failed
