#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_same.sh LIB BIN NAME FILE... - runs BIN DIR on a plain directory and
# with LIB preloaded on a pmem root, both fresh under /dev/shm and removed
# afterwards; every line it prints and the named files must be the same
# (recordlocks.c, handoff.c).

set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/preload.sh"
lib=$1 bin=$2 name=$3
shift 3
preload_of "$lib" "$bin"
scratch_dir "nvmmio-$name"
run_both "$bin" || exit 1
same_as_kernel "$@" || exit 1
echo "$name: $(wc -l <"$dir/plain.out") lines and $# files as the kernel's"
