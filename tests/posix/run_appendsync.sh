#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_appendsync.sh LIB BIN SEED OPS - runs nvmmio_appendsync with LIB
# preloaded in a fresh directory under /dev/shm (the pmem root), removed
# afterwards. Exits with the program's status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/preload.sh"
lib=$1 bin=$2 seed=$3 ops=$4
preload_of "$lib" "$bin"
scratch_dir nvmmio-appendsync
env NVMMIO_PATH="$dir/managed" LD_PRELOAD="$preload" "$bin" "$dir/managed" "$seed" "$ops"
