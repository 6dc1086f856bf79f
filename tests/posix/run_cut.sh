#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_cut.sh LIB BIN STORM - runs nvmmio_cut (cut.c) on a plain directory
# and with LIB preloaded on a pmem root, both fresh under /dev/shm and
# removed afterwards; every result and the files' bytes must be the same.
# Then nvmmio_cutstorm (cutstorm.c, STORM) on each, which checks itself.
# run_cut.sh --linked STORM - the storm alone, STORM linked with the
# library (the threaded build under ThreadSanitizer), on a fresh root.

set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/preload.sh"
if [ "$1" = --linked ]; then
    scratch_dir nvmmio-cutstorm
    "$2" "$dir/plain" 2 && NVMMIO_PATH="$dir/managed" "$2" "$dir/managed" 2
    exit
fi
lib=$1 bin=$2 storm=$3
preload_of "$lib" "$bin"
scratch_dir nvmmio-cut
run_both "$bin" || exit 1
status=0
same_as_kernel reads writes mapped sent || status=1
[ $status -eq 0 ] && echo "cut: $(wc -l <"$dir/plain.out") results and the files as the kernel's"
"$storm" "$dir/plain" 1 || status=1
env NVMMIO_PATH="$dir/managed" LD_PRELOAD="$preload" "$storm" "$dir/managed" 1 || status=1
exit $status
