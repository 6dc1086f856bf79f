#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Every flush, fence and non-temporal copy goes through src/pmem/.
# Fails when libpmem's persistence calls or the cache-line intrinsics appear
# anywhere else in the library's sources.
top=${1:-.}
hits=$(grep -rnE '\bpmem_(flush|drain|persist|msync|memcpy|memmove|memset|deep)[a-z_]*[[:space:]]*\(|_mm_(clwb|clflushopt|clflush|sfence)' \
       "$top/src" | grep -v "^$top/src/pmem/")
if [ -n "$hits" ]; then
    echo "persistence calls outside src/pmem/:"
    echo "$hits"
    exit 1
fi
echo "persistence calls: only in src/pmem/"
