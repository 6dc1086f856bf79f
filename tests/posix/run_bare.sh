#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_bare.sh LIB BIN - runs nvmmio_bare (bare.c) on a plain directory and
# with LIB preloaded on a pmem root, both fresh under /dev/shm and removed
# afterwards; every result and the files' bytes must be the same. Then
# again under an address-space limit (ulimit -v) that leaves room for a
# file's mapping but not for its log's, where the library hands each file
# to the kernel at its first write (not with a sanitizer runtime, which
# needs more address space than any such limit).

set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/preload.sh"
lib=$1 bin=$2
preload_of "$lib" "$bin"
scratch_dir nvmmio-bare
run_both "$bin" || exit 1
status=0
compare() { # WHAT
    same_as_kernel aio bare || status=1
    [ $status -eq 0 ] && echo "bare$1: $(wc -l <"$dir/plain.out") results and both files as the kernel's"
}
compare ""
case $preload in
*asan* | *tsan*) echo "bare: no run under an address-space limit with a sanitizer runtime" ;;
*)
    rm -rf "${dir:?}/plain/"* "${dir:?}/managed/"*
    (ulimit -v 600000 && run_both "$bin") || exit 1
    compare ", 600 MB of address space"
    ;;
esac
exit $status
