#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# run_enospc.sh LIB BIN: runs BIN under LIB on a fresh 16 MiB tmpfs, in a
# private mount namespace so the mount goes away with the test. Skips (77)
# where mounting is not allowed (not root).
lib=$1
bin=$2
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
preload=$lib
[ -z "$asan" ] || preload="$asan:$lib"
exec unshare -m sh -c '
    dir=$(mktemp -d /tmp/nvmmio-enospc.XXXXXX) || exit 2
    if ! mount -t tmpfs -o size=16m nvmmio-enospc "$dir" 2>/dev/null; then
        rmdir "$dir"; echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77
    fi
    LD_PRELOAD="$1" NVMMIO_PATH="$dir" "$2" "$dir"; rc=$?
    umount "$dir"; rmdir "$dir"; exit $rc' sh "$preload" "$bin" 2>&1 ||
    { rc=$?; [ $rc -eq 1 ] && echo "SKIP: unshare failed"; exit $rc; }
