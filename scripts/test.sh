#!/bin/sh
# The whole test suite: installs what it needs, builds the library twice
# (release, and ASan+UBSan), and runs every ctest label in both builds
# (the emulated-pmem guest run, label dax, in the release build only).
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
(cd "$top/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" -LE dax "$@") || status=1

[ $status -eq 0 ] && echo "test suite: all passed" || echo "test suite: FAILED"
exit $status
