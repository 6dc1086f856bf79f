# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# common.sh - shared helpers of the evaluation scripts; sourced, never run.
#
# Provides:
#   eval_need_packages PKG...   installs missing Debian packages with apt-get
#                               (as scripts/deps.sh does); never fatal by
#                               itself: callers check the commands they need
#   eval_need_commands CMD...   exits 2 with a message when one is missing
#   eval_library                builds libnvmmio into a scratch directory
#                               (or takes $NVMMIO_LIB) and sets EVAL_LIB
#   eval_machine                prints CPU model, cores, kernel, load
#   eval_shm_dir NAME           makes a fresh directory under /dev/shm, sets
#                               EVAL_SHM and removes it at exit
#
# Environment:
#   NVMMIO_LIB          use this libnvmmio.so instead of building one
#   NVMMIO_EVAL_BUILT_FROM  what to print about NVMMIO_LIB's origin (set by
#                       run_all.sh for the scripts it runs)
#   NVMMIO_EVAL_BUILD   build directory (/tmp/nvmmio-eval-build)
#   NVMMIO_EVAL_RETRIES extra build attempts, 30 s apart, when the build
#                       fails because src/ is being edited (2)

EVAL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVAL_LIB=
EVAL_BUILT_FROM=
EVAL_SHM=

eval_note() { echo "[$(basename "$0" .sh)] $*" >&2; }

eval_need_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        eval_note "missing packages ${missing[*]} (not root or no apt-get: not installing)"
        return 0
    fi
    eval_note "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >/dev/null 2>&1 || eval_note "apt-get install ${missing[*]} failed"
}

eval_need_commands() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { eval_note "required command '$c' not found"; exit 2; }
    done
}

eval_library() {
    if [ -n "${NVMMIO_LIB:-}" ]; then
        [ -f "$NVMMIO_LIB" ] || { eval_note "NVMMIO_LIB=$NVMMIO_LIB does not exist"; exit 2; }
        EVAL_LIB=$(readlink -f "$NVMMIO_LIB")
        EVAL_BUILT_FROM=${NVMMIO_EVAL_BUILT_FROM:-given as NVMMIO_LIB}
        return 0
    fi
    eval_need_packages build-essential cmake pkg-config libpmem-dev
    local build=${NVMMIO_EVAL_BUILD:-/tmp/nvmmio-eval-build} tries=$((${NVMMIO_EVAL_RETRIES:-2} + 1)) i log
    log=$(mktemp)
    EVAL_BUILT_FROM="built from $(cd "$EVAL_TOP" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
    (cd "$EVAL_TOP" && [ -z "$(git status --porcelain -- src include CMakeLists.txt 2>/dev/null)" ]) ||
        EVAL_BUILT_FROM+=" plus uncommitted changes to src/"
    EVAL_BUILT_FROM+=" at $(date '+%F %T')"
    for ((i = 1; i <= tries; i++)); do
        if cmake -S "$EVAL_TOP" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log" 2>&1 &&
            cmake --build "$build" -j 2 --target nvmmio >>"$log" 2>&1; then
            rm -f "$log"
            EVAL_LIB=$(readlink -f "$build/libnvmmio.so")
            return 0
        fi
        if [ "$i" -lt "$tries" ]; then
            eval_note "building the library failed (attempt $i of $tries); retrying in 30 s"
            sleep 30
        fi
    done
    tail -n 30 "$log" >&2
    rm -f "$log"
    eval_note "cannot build the library in $build"
    exit 2
}

eval_machine() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "machine: ${cpu:-unknown CPU}, $(nproc) cores online, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "kernel:  $(uname -srm)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    echo "library: ${EVAL_LIB:-none} (${EVAL_BUILT_FROM:-?})"
}

eval_cleanup_shm() {
    [ -n "$EVAL_SHM" ] && rm -rf -- "$EVAL_SHM"
    EVAL_SHM=
}

eval_shm_dir() {
    EVAL_SHM=$(mktemp -d "/dev/shm/nvmmio-eval-$1.XXXXXX")
    trap eval_cleanup_shm EXIT
    trap 'eval_cleanup_shm; exit 130' INT TERM
}
