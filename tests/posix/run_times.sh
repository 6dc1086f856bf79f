#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_times.sh LIB TIMES_BIN MODE [ARGS...] - runs nvmmio_times MODE in a
# fresh directory under /dev/shm: MANAGED (the pmem root) and PLAIN are
# filled in; LIB is preloaded, or "none" runs without it (self-check:
# both sides plain agree). Exits with the program's status.
set -u
lib=$1 bin=$2 mode=$3
shift 3
dir=$(mktemp -d /dev/shm/nvmmio-times.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
mkdir "$dir/managed" "$dir/plain" || exit 2
envs=(NVMMIO_PATH="$dir/managed")
if [ "$lib" != none ]; then
    preload=$lib
    asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
    [ -z "$asan" ] || preload="$asan:$lib"
    envs+=(LD_PRELOAD="$preload")
fi
case $mode in
diff) env "${envs[@]}" "$bin" diff "$1" "$2" "$dir/managed" "$dir/plain" ;;
space) env "${envs[@]}" "$bin" space "$dir/managed" "$dir/plain" ;;
watch) env "${envs[@]}" "$bin" watch "$dir/managed" "$1" ;;
*) echo "$0: unknown mode $mode" >&2; exit 2 ;;
esac
