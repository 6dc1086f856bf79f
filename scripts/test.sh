#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The whole test suite: installs what it needs, builds the library three
# times and runs ctest in each: release (every label, the emulated-pmem
# guest run included), ASan+UBSan (every label but dax, the
# evaluation smoke run and the fuzzer, built with ASan+UBSan anyway), and TSan (the
# threaded tests and the file lock's).
# Usage: scripts/test.sh [ctest arguments]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
nvmmio_install_deps

jobs=$(nproc)

status=0
echo "== release build"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j "$jobs" >/dev/null
(cd "$top/build" && ctest --output-on-failure -j "$jobs" "$@") || status=1

echo "== ASan+UBSan build"
cmake -S "$top" -B "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DNVMMIO_SANITIZE=ON >/dev/null
cmake --build "$top/build-asan" -j "$jobs" >/dev/null
(cd "$top/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" -LE "dax|eval|fuzz" "$@") || status=1

echo "== TSan build (threaded tests)"
cmake -S "$top" -B "$top/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DNVMMIO_TSAN=ON >/dev/null
cmake --build "$top/build-tsan" -j "$jobs" --target nvmmio_threads test_filelock test_pages nvmmio_manyfiles nvmmio_stats \
    nvmmio_tx_diff nvmmio_cutstorm_linked nvmmio_lingerthreads >/dev/null
# A process that serves a file runs the library's helper thread, and a
# forked child starts its own when it needs one: TSan's runtime refuses
# threads after a multi-threaded fork unless told to check them too.
(cd "$top/build-tsan" && TSAN_OPTIONS="halt_on_error=1 die_after_fork=0" \
    ctest --output-on-failure -L "threads|stats" "$@") || status=1

[ $status -eq 0 ] && echo "test suite: all passed" || echo "test suite: FAILED"
exit $status
