#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# run_txdiff.sh EXPECT PROGRAM SEED OPS [--root] [OPTIONS...]: runs the
# transactions' differential tester in a fresh directory under /dev/shm,
# removed afterwards. EXPECT is "agree" (exit status 0) or "mismatch": the
# tester must report a mismatch (status 1 and its MISMATCH line), as it
# does when its reference is broken with --no-restore. With --root the
# managed files are served by the pmem root (NVMMIO_PATH) instead of
# O_ATOMIC.
set -u
expect=$1
prog=$2
seed=$3
ops=$4
shift 4
dir=$(mktemp -d /dev/shm/nvmmio-txdiff.XXXXXX) || exit 2
trap 'rm -rf "$dir"' EXIT
case " $* " in
*" --root "*) export NVMMIO_PATH="$dir/managed" ;;
esac
out="$dir/out"
"$prog" --dir "$dir" --seed "$seed" --ops "$ops" "$@" >"$out"
status=$?
cat "$out"
case $expect in
agree) exit $status ;;
mismatch)
    if [ $status -eq 1 ] && grep -q '^tx_diff: MISMATCH' "$out"; then
        echo "run_txdiff: the broken reference was caught, as it must be"
        exit 0
    fi
    echo "run_txdiff: expected a reported mismatch, got status $status" >&2
    exit 1
    ;;
*) exit 2 ;;
esac
