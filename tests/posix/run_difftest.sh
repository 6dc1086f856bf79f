#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_difftest.sh LIB DIFFTEST_BIN SEED OPS [VAR=value ...]
#
# Runs nvmmio_difftest once in a fresh directory under /dev/shm: the managed
# side in $dir/managed (the pmem root, NVMMIO_PATH) and the plain side in
# $dir/plain. LIB is the libnvmmio.so to preload, or "none" to run without
# it (the tester's self-check). Extra VAR=value arguments are passed in the
# environment (e.g. NVMMIO_SYNC=1 NVMMIO_POLICY=redo). Further difftest
# options can be given in DIFFTEST_ARGS (e.g. DIFFTEST_ARGS="--max-file-mb 16").
# Exits with the tester's status.
set -u

if [ $# -lt 4 ]; then
    echo "usage: $0 LIB|none DIFFTEST_BIN SEED OPS [VAR=value ...]" >&2
    exit 2
fi
lib=$1
bin=$2
seed=$3
ops=$4
shift 4
. "$(dirname "$0")/preload.sh"
check_env_args "$@"
scratch_dir nvmmio-diff
preload_of "$lib" "$bin"

# LeakSanitizer stays on: no leaks are reported for the library today.
# Should it come to keep state until exit, run with
# ASAN_OPTIONS=detect_leaks=0 in the environment (or as an extra argument).
envs=(NVMMIO_PATH="$dir/managed")
[ -z "$preload" ] || envs+=(LD_PRELOAD="$preload")

# shellcheck disable=SC2086 # DIFFTEST_ARGS is a list of words
env "${envs[@]}" "$@" "$bin" --seed "$seed" --ops "$ops" \
    --managed "$dir/managed" --plain "$dir/plain" ${DIFFTEST_ARGS:-}
exit $?
