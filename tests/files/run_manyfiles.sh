#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_manyfiles.sh many|crash|threads PROGRAM - runs manyfiles.c in a fresh
# /dev/shm directory that is its pmem root, then checks without the library
# that no log is left behind.
set -u
what=$1 prog=$2
dir=$(mktemp -d /dev/shm/nvmmio-files.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
unset PMEM_PATH
NVMMIO_PATH=$dir "$prog" "$what" "$dir" || exit 1
left=$(find "$dir/.nvmmio" -name '*.log*' 2>/dev/null | wc -l)
if [ "$left" -ne 0 ]; then
    echo "FAIL: $left logs left in $dir/.nvmmio"
    exit 1
fi
echo "ok"
