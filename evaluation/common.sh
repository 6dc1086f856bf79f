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
#   eval_medium_dir KIND NAME   makes a fresh directory on medium KIND and
#                               sets EVAL_MEDIUM_DIR; removed (unmounted) at
#                               exit or by eval_cleanup_media. KIND tmpfs: a
#                               directory under /dev/shm (4 KiB pages); huge:
#                               a tmpfs of its own mounted huge=always (needs
#                               root; returns 1 with a message otherwise)
#   eval_medium_text KIND       one line that says what KIND is
#
# Environment:
#   NVMMIO_LIB          use this libnvmmio.so instead of building one
#   NVMMIO_EVAL_BUILT_FROM  what to print about NVMMIO_LIB's origin (set by
#                       run_all.sh for the scripts it runs)
#   NVMMIO_EVAL_BUILD   build directory (/tmp/nvmmio-eval-build)
#   NVMMIO_EVAL_RETRIES extra build attempts, 30 s apart, when the build
#                       fails because src/ is being edited (2)
#   NVMMIO_EVAL_HUGE_SIZE  size of the huge=always tmpfs (2G)

EVAL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVAL_LIB=
EVAL_BUILT_FROM=
EVAL_SHM=
EVAL_MEDIUM_DIR=
EVAL_MEDIA=() # directories eval_medium_dir made, each "KIND:DIR"

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

eval_cleanup_media() {
    local m
    for m in "${EVAL_MEDIA[@]}"; do
        case $m in
        huge:*) umount -- "${m#huge:}" 2>/dev/null && rmdir -- "${m#huge:}" ;;
        *) rm -rf -- "${m#*:}" ;;
        esac
    done
    EVAL_MEDIA=()
}

eval_cleanup_all() {
    eval_cleanup_shm
    eval_cleanup_media
}

eval_traps() {
    trap eval_cleanup_all EXIT
    trap 'eval_cleanup_all; exit 130' INT TERM
}

eval_shm_dir() {
    EVAL_SHM=$(mktemp -d "/dev/shm/nvmmio-eval-$1.XXXXXX")
    eval_traps
}

eval_medium_dir() { # KIND NAME
    local kind=$1 dir
    eval_traps
    case $kind in
    tmpfs)
        EVAL_MEDIUM_DIR=$(mktemp -d "/dev/shm/nvmmio-eval-$2.XXXXXX")
        EVAL_MEDIA+=("tmpfs:$EVAL_MEDIUM_DIR")
        ;;
    huge)
        dir=$(mktemp -d "/tmp/nvmmio-eval-$2-huge.XXXXXX")
        if ! mount -t tmpfs -o "size=${NVMMIO_EVAL_HUGE_SIZE:-2G},huge=always,mode=0700" none "$dir" 2>/dev/null; then
            rmdir -- "$dir"
            eval_note "cannot mount a huge=always tmpfs (root needed): no huge-page medium"
            return 1
        fi
        EVAL_MEDIUM_DIR=$dir
        EVAL_MEDIA+=("huge:$dir")
        ;;
    *) eval_note "unknown medium '$kind' (tmpfs or huge)"; return 1 ;;
    esac
}

eval_medium_text() {
    case $1 in
    tmpfs) echo "tmpfs /dev/shm, 4 KiB pages (shmem_enabled: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null || echo ?))" ;;
    huge) echo "a tmpfs of its own mounted huge=always (2 MiB pages where aligned)" ;;
    esac
}
