#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_signals.sh MODE LINKED_BIN PLAIN_BIN [VAR=value ...]
#
# Runs nvmmio_signals in MODE (stress or semantics) twice in a fresh
# directory under /dev/shm: the build linked with libnvmmio, with its
# directory as the pmem root, and the build without the library on a plain
# directory; their outputs must match byte for byte. Extra VAR=value
# arguments go to the library's run (PMEM_IS_PMEM_FORCE=1, say).
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 MODE LINKED_BIN PLAIN_BIN [VAR=value ...]" >&2
    exit 2
fi
mode=$1
linked=$2
plain=$3
shift 3

dir=$(mktemp -d /dev/shm/nvmmio-signals.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
mkdir "$dir/managed" "$dir/plain" || exit 2

"$plain" "$mode" "$dir/plain" "$dir/plain.out" || {
    echo "run_signals: $mode failed without the library" >&2
    exit 1
}
env NVMMIO_PATH="$dir/managed" "$@" "$linked" "$mode" "$dir/managed" "$dir/managed.out" || {
    echo "run_signals: $mode failed under the library" >&2
    exit 1
}
if ! cmp "$dir/plain.out" "$dir/managed.out"; then
    echo "run_signals: $mode: the library's output differs from the kernel's" >&2
    if [ "$mode" = semantics ]; then
        diff "$dir/plain.out" "$dir/managed.out" >&2
    fi
    exit 1
fi
echo "run_signals: $mode: same output with and without the library"
