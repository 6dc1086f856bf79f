#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The shared library's ABI: every symbol it exports must be declared in
# include/libnvmmio.h or be a C library call it interposes, listed in
# tests/install/interposed.txt. A new export must be added to one of them on
# purpose (and a symbol gone from the library is a change of the soname's
# promise, so the list must not name one the library lacks).
# usage: check_abi.sh LIBRARY HEADER ALLOW_LIST
set -eu
lib=$1 header=$2 allow=$3
work=$(mktemp -d /dev/shm/nvmmio-abi.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Sanitizer builds export their runtimes' hooks too.
nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@.*//' |
    grep -v '^__\(asan\|odr_asan\|ubsan\|tsan\|sanitizer\|lsan\)' | sort -u >"$work/exported"
grep -o '\<nvmmio_[a-z_]*[ ]*(' "$header" | tr -d ' (' >"$work/declared"
grep -v '^#' "$allow" | grep -v '^$' | cat - "$work/declared" | sort -u >"$work/allowed"

status=0
unlisted=$(comm -23 "$work/exported" "$work/allowed")
if [ -n "$unlisted" ]; then
    echo "exported but neither declared in libnvmmio.h nor listed in $allow:"
    echo "$unlisted"
    status=1
fi
missing=$(comm -13 "$work/exported" "$work/allowed")
if [ -n "$missing" ]; then
    echo "declared or listed but not exported:"
    echo "$missing"
    status=1
fi
[ $status -ne 0 ] || echo "abi: $(wc -l <"$work/exported") exported symbols, all declared or listed"
exit $status
