#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_badinput.sh LIB|none BIN: runs the bad-input matrix (badinput.c) in a
# fresh directory under /dev/shm, the managed side a pmem root and the plain
# side a plain directory. As root it also runs, in a private mount
# namespace, the cases that need small file systems: two 4 MiB tmpfs to
# fill (ENOSPC) and two read-only ones holding the same file. Elsewhere
# those cases are skipped with a message. LIB "none" runs both sides on
# plain libc: the tester's self-check.
set -u
lib=$1
bin=$2
dir=$(mktemp -d /dev/shm/nvmmio-badinput.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
mkdir "$dir/managed" "$dir/plain" || exit 2

preload=
if [ "$lib" != none ]; then
    asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
    preload=$lib
    [ -z "$asan" ] || preload="$asan:$lib"
fi

run() { # run NVMMIO_PATH ARGS...
    local roots=$1
    shift
    if [ -n "$preload" ]; then
        LD_PRELOAD="$preload" NVMMIO_PATH="$roots" "$bin" "$@"
    else
        "$bin" "$@"
    fi
}

small_fs() { # small_fs: mounts full-a, full-b (empty) and ro-a, ro-b (read-only)
    for d in full-a full-b ro-a ro-b; do
        mkdir "$dir/$d" && mount -t tmpfs -o size=4m "nvmmio-$d" "$dir/$d" || return 1
    done
    head -c 10000 /dev/urandom >"$dir/ro-a/f" && cp "$dir/ro-a/f" "$dir/ro-b/f" &&
        mount -o remount,ro "$dir/ro-a" && mount -o remount,ro "$dir/ro-b"
}

if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    export -f run small_fs
    export dir preload bin
    unshare -m --propagation private bash -c '
        if ! small_fs; then
            echo "SKIP: cannot mount small file systems here"
            run "$dir/managed" "$dir/managed" "$dir/plain"; exit $?
        fi
        run "$dir/managed:$dir/full-a:$dir/ro-a" "$dir/managed" "$dir/plain" \
            "$dir/full-a" "$dir/full-b" "$dir/ro-a" "$dir/ro-b"; rc=$?
        umount "$dir/full-a" "$dir/full-b" "$dir/ro-a" "$dir/ro-b"; exit $rc'
    exit $?
fi
run "$dir/managed" "$dir/managed" "$dir/plain"
