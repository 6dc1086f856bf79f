# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Helpers of the share tests' scripts (sourced): a fresh directory under
# /dev/shm removed on exit, and the environment that runs a program under
# the library (share_lib_env) or without it.

# share_fresh_dir NAME: makes $T, a fresh directory, and removes it on exit
# (NVMMIO_SHARE_KEEP=1 keeps it and says where).
share_fresh_dir() {
    T=$(mktemp -d "/dev/shm/nvmmio-share-$1.XXXXXX") || exit 2
    if [ -n "${NVMMIO_SHARE_KEEP:-}" ]; then
        echo "keeping $T" >&2
    else
        trap 'rm -rf -- "$T"' EXIT
    fi
}

# The sanitizer runtime ($2: asan or tsan) that $1 is linked against, if any.
share_runtime_of() {
    ldd "$1" 2>/dev/null | awk -v re="lib$2\\.so" '$0 ~ re { print $3; exit }'
}

# share_lib_env LIB ROOT: sets lib_env, the environment assignments that run
# an uninstrumented program under LIB with ROOT as the pmem root. An ASan
# library needs its runtime first in the preload list (leaks are the
# programs' own business); a TSan library cannot be preloaded into such
# programs at all: exit 77.
share_lib_env() {
    local lib asan
    lib=$(readlink -f "$1") || exit 2
    [ -f "$lib" ] || {
        echo "library not found: $1" >&2
        exit 2
    }
    if [ -n "$(share_runtime_of "$lib" tsan)" ]; then
        echo "SKIP: $lib uses ThreadSanitizer, which cannot be preloaded into uninstrumented programs"
        exit 77
    fi
    asan=$(share_runtime_of "$lib" asan)
    lib_env=("NVMMIO_PATH=$2")
    if [ -n "$asan" ]; then
        lib_env+=("LD_PRELOAD=$asan:$lib"
            "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0")
    else
        lib_env+=("LD_PRELOAD=$lib")
    fi
}
