#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_difftest.sh LIB DIFFTEST_BIN SEED OPS [VAR=value ...]
#
# Runs nvmmio_difftest once in a fresh directory under /dev/shm: the managed
# side in $dir/managed (the pmem root, NVMMIO_PATH) and the plain side in
# $dir/plain. LIB is the libnvmmio.so to preload, or "none" to run without
# it (the tester's self-check). Extra VAR=value arguments are passed in the
# environment (e.g. NVMMIO_SYNC=1 NVMMIO_POLICY=redo). Further difftest
# options can be given in DIFFTEST_ARGS (e.g. DIFFTEST_ARGS="--max-file-mb 16").
# Exits with the tester's status.
set -u

if [ $# -lt 4 ]; then
    echo "usage: $0 LIB|none DIFFTEST_BIN SEED OPS [VAR=value ...]" >&2
    exit 2
fi
lib=$1
bin=$2
seed=$3
ops=$4
shift 4
for a in "$@"; do
    case $a in
    *=*) ;;
    *)
        echo "$0: not an environment assignment: $a" >&2
        exit 2
        ;;
    esac
done

dir=$(mktemp -d /dev/shm/nvmmio-diff.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
mkdir "$dir/managed" "$dir/plain" || exit 2

# The path of a sanitizer runtime ($2: asan or tsan) that a binary or
# library ($1) is linked against, if any.
runtime_of() {
    ldd "$1" 2>/dev/null | awk -v re="lib$2\\.so" '$0 ~ re { print $3; exit }'
}

preload=
asan=
if [ "$lib" != none ]; then
    if [ ! -f "$lib" ]; then
        echo "$0: library not found: $lib" >&2
        exit 2
    fi
    # An ASan library or tester needs the ASan runtime first in the initial
    # library list, ahead of the preloaded library.
    asan=$(runtime_of "$lib" asan)
    [ -n "$asan" ] || asan=$(runtime_of "$bin" asan)
    # A TSan library needs a TSan tester (the CMake build makes one). Putting
    # libtsan first instead would route fstat through its interceptor, which
    # calls __fxstat and so bypasses the library's fstat.
    if [ -n "$(runtime_of "$lib" tsan)" ] && [ -z "$(runtime_of "$bin" tsan)" ]; then
        echo "$0: $lib uses ThreadSanitizer; build $bin with -fsanitize=thread too" >&2
        exit 2
    fi
    preload=$lib
    [ -z "$asan" ] || preload="$asan:$lib"
fi

# LeakSanitizer stays on: no leaks are reported for the library today.
# Should it come to keep state until exit, run with
# ASAN_OPTIONS=detect_leaks=0 in the environment (or as an extra argument).
envs=(NVMMIO_PATH="$dir/managed")
[ -z "$preload" ] || envs+=(LD_PRELOAD="$preload")

# shellcheck disable=SC2086 # DIFFTEST_ARGS is a list of words
env "${envs[@]}" "$@" "$bin" --seed "$seed" --ops "$ops" \
    --managed "$dir/managed" --plain "$dir/plain" ${DIFFTEST_ARGS:-}
exit $?
