#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_mpdiff.sh LIB MPDIFF_BIN SEED OPS WORKERS LIB_WORKERS [VAR=value ...]
#
# Runs nvmmio_mpdiff once in a fresh directory under /dev/shm: the managed
# group of workers in $dir/managed (the pmem root, NVMMIO_PATH), LIB_WORKERS
# of them with LIB preloaded, and the reference group in $dir/plain. LIB is
# the libnvmmio.so to preload, or "none" to run every worker without it
# (the tester's self-check). Extra VAR=value arguments are passed in the
# environment (e.g. NVMMIO_SYNC=1 NVMMIO_POLICY=redo). Further options can
# be given in MPDIFF_ARGS (e.g. MPDIFF_ARGS=--trace). Exits with the
# tester's status.
set -u

if [ $# -lt 6 ]; then
    echo "usage: $0 LIB|none MPDIFF_BIN SEED OPS WORKERS LIB_WORKERS [VAR=value ...]" >&2
    exit 2
fi
lib=$1
bin=$2
seed=$3
ops=$4
workers=$5
libworkers=$6
shift 6
. "$(dirname "$0")/preload.sh"
check_env_args "$@"
scratch_dir nvmmio-mpdiff
preload_of "$lib" "$bin"

# The coordinator runs without the library; it preloads it into the
# workers that take it. A mismatch report prints the replay command.
replay="bash $0 $lib $bin $seed $ops $workers $libworkers $*"
[ -z "${MPDIFF_ARGS:-}" ] || replay="MPDIFF_ARGS='$MPDIFF_ARGS' $replay"
# shellcheck disable=SC2086 # MPDIFF_ARGS is a list of words
env -u LD_PRELOAD NVMMIO_PATH="$dir/managed" MPDIFF_REPLAY="$replay" \
    "$@" "$bin" --seed "$seed" --ops "$ops" --workers "$workers" --lib-workers "$libworkers" \
    --preload "$preload" --managed "$dir/managed" --plain "$dir/plain" ${MPDIFF_ARGS:-}
exit $?
