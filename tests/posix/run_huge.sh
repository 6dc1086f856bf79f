#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_huge.sh LIB DIFFTEST APPENDSYNC BEHIND: the library on a tmpfs mounted
# huge=always (one page of 2 MiB per fault through a mapping; small files
# grow by what their appends need there), on forced pmem, in a private mount
# namespace so the mount goes away with the test: the differential tester,
# the appends-and-syncs tester, and a lone writer per policy that checks its
# log's watch after each operation (behind.c). Skips (77) where mounting is
# not allowed (not root).
set -u
. "$(dirname "$0")/preload.sh"
preload_of "$1" "$2"
exec unshare -m bash -c '
    dir=$(mktemp -d /tmp/nvmmio-huge.XXXXXX) || exit 2
    if ! mount -t tmpfs -o size=512m,huge=always nvmmio-huge "$dir" 2>/dev/null; then
        rmdir "$dir"; echo "SKIP: cannot mount a huge-page tmpfs here (needs root)"; exit 77
    fi
    export LD_PRELOAD=$1 PMEM_IS_PMEM_FORCE=1 ASAN_OPTIONS=detect_leaks=0
    mkdir "$dir/m" "$dir/p" "$dir/a" "$dir/w"
    rc=0
    NVMMIO_PATH="$dir/m" "$2" --seed 7 --ops 10000 --managed "$dir/m" --plain "$dir/p" || rc=1
    NVMMIO_PATH="$dir/a" "$3" "$dir/a" 3 3000 || rc=1
    for policy in undo redo hybrid; do
        rm -f "$dir/w/f"
        NVMMIO_PATH="$dir/w" NVMMIO_POLICY=$policy "$4" --loop-checked "$dir/w/f" 9 3000 ||
            { echo "huge: $policy: the watch vouches for what the file does not show"; rc=1; }
    done
    umount "$dir"; rmdir "$dir"; exit $rc' bash "$preload" "$2" "$3" "$4" 2>&1
