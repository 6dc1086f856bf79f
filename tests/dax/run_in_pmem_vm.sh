#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# run_in_pmem_vm.sh BUILD_DIR SOURCE_DIR
#
# The core tests on a real DAX file system: boots an emulated-NVDIMM guest
# with scripts/pmem-vm.sh and runs, on its ext4 -o dax=always mount at
# /mnt/pmem:
#   1. mapsync_probe          the mount must grant MAP_SYNC mappings;
#   2. a debug run            the library must map a file there with MAP_SYNC
#                             (NVMMIO_DEBUG=2 names the mapping kind);
#   3. nvmmio_difftest        differential POSIX test, seed 1, 3000 ops
#                             (TCG is about 20x slower than native);
#   4. nvmmio_killtest        SIGKILL loop, 20 kills, seed 5;
#   and threads, a copy, processes sharing a file, and a file cut shorter
#   by a program without the library (nvmmio_cut, nvmmio_cutstorm).
#
# Exit status: 0 all passed, 1 a test failed or a test program is missing,
# 77 (ctest skip) when no guest can be started on this machine.
# Environment: NVMMIO_DAX_OPS (3000) and NVMMIO_DAX_KILLS (20) change the
# test sizes; NVMMIO_VM_* are passed on to pmem-vm.sh.
#
# The emulated pmem is 1 GiB here (NVMMIO_VM_PMEM_MB). The backing file is
# sparse; only the blocks that get written cost host memory.
#
# The guest sees BUILD_DIR (shared read-write) and the host's / read-only,
# except the host's /tmp, /run, /mnt and /dev; so the part that runs in the
# guest (this script with --in-guest) is copied into BUILD_DIR first.
set -euo pipefail

readonly PMEM=/mnt/pmem

# ------------------------------------------------------------------ guest side

FAILED=0
LIB_ENV=()

# run_step NAME CMD...: runs one test step and records its outcome.
run_step() {
    local name=$1 status=0
    shift
    echo "== $name"
    "$@" || status=$?
    if [ "$status" -eq 0 ]; then
        echo "PASS: $name"
    else
        echo "FAIL: $name (exit $status)"
        FAILED=1
    fi
}

# The ASan runtime must come first in LD_PRELOAD when the library is sanitized.
preload_for() {
    local lib=$1 asan
    asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
    if [ -n "$asan" ]; then echo "$asan:$lib"; else echo "$lib"; fi
}

# Sets LIB_ENV to the environment that puts a program under the library.
library_env() {
    local lib=$1 root=$2
    LIB_ENV=("LD_PRELOAD=$(preload_for "$lib")" "NVMMIO_PATH=$root" "ASAN_OPTIONS=detect_leaks=0")
}

step_mapsync_probe() {
    local probe=$1 out
    out=$("$probe" "$PMEM/mapsync-probe") || true
    rm -f "$PMEM/mapsync-probe"
    echo "$out"
    [ "$out" = "MAP_SYNC ok" ]
}

step_library_uses_map_sync() {
    local lib=$1 err status=0
    mkdir -p "$PMEM/m"
    library_env "$lib" "$PMEM/m"
    err=$(env "${LIB_ENV[@]}" NVMMIO_DEBUG=2 \
        dd if=/dev/zero of="$PMEM/m/debug-probe" bs=4096 count=16 2>&1 >/dev/null) || status=$?
    rm -rf "$PMEM/m"
    echo "$err" | grep -i 'nvmmio' || true
    if [ "$status" -ne 0 ]; then
        echo "dd under the library failed (exit $status): $err"
        return 1
    fi
    if ! echo "$err" | grep 'MAP_SYNC' | grep -qv 'unsupported'; then
        echo "the library did not report a MAP_SYNC mapping for $PMEM/m/debug-probe"
        return 1
    fi
}

step_difftest() {
    local lib=$1 bin=$2 ops=$3
    rm -rf "$PMEM/m" "$PMEM/p"
    mkdir -p "$PMEM/m" "$PMEM/p"
    library_env "$lib" "$PMEM/m"
    # Dense file data stays within 16 MiB: less to move under emulation.
    # ext4 shifts data with FALLOC_FL_COLLAPSE_RANGE and INSERT_RANGE, which
    # the library does not offer (tmpfs has neither): those modes are left
    # out here.
    local status=0
    timeout 700 env "${LIB_ENV[@]}" "$bin" --seed 1 --ops "$ops" --max-file-mb 16 \
        --no-falloc-badmode --managed "$PMEM/m" --plain "$PMEM/p" || status=$?
    rm -rf "$PMEM/m" "$PMEM/p"
    return "$status"
}

step_killtest() {
    local lib=$1 bin=$2 kills=$3
    rm -rf "$PMEM/k"
    mkdir -p "$PMEM/k"
    local status=0
    timeout 700 "$bin" --lib "$lib" --kills "$kills" --seed 5 --dir "$PMEM/k" || status=$?
    rm -rf "$PMEM/k"
    return "$status"
}

step_threads() {
    local bin=$1 status=0
    timeout 700 env ASAN_OPTIONS=detect_leaks=0 "$bin" 4 2000 "$PMEM" || status=$?
    return "$status"
}

# Processes sharing a file on DAX: writes in place of two processes meet a
# third's reads, and a writer killed in a write in place (tests/share).
step_share() {
    local lib=$1 bin=$2 nvmmio=$3 status=0
    timeout 300 "$bin" --lib "$lib" --nvmmio "$nvmmio" --dir "$PMEM" inplace 3 || status=$?
    [ "$status" -eq 0 ] || return "$status"
    timeout 300 "$bin" --lib "$lib" --nvmmio "$nvmmio" --dir "$PMEM" deadwriter 30 || status=$?
    return "$status"
}

# A copy of 8 MiB (128 KiB appends, growing the file by fallocate steps under
# MAP_SYNC), compared.
step_copy() {
    local lib=$1 status=0
    rm -rf "$PMEM/c"
    mkdir -p "$PMEM/c/m"
    head -c $((8 << 20)) /dev/urandom >"$PMEM/c/src"
    library_env "$lib" "$PMEM/c/m"
    env "${LIB_ENV[@]}" cp "$PMEM/c/src" "$PMEM/c/m/dst" || status=$?
    [ "$status" -ne 0 ] || cmp "$PMEM/c/src" "$PMEM/c/m/dst" || status=$?
    rm -rf "$PMEM/c"
    return "$status"
}

# A file cut shorter by a program without the library while this process
# reads and writes it (tests/posix/cut.c): every result and byte as on a
# plain directory of the same file system; then the storm (cutstorm.c).
step_cut() {
    local lib=$1 cut=$2 storm=$3 status=0
    rm -rf "$PMEM/x"
    mkdir -p "$PMEM/x/m" "$PMEM/x/p"
    library_env "$lib" "$PMEM/x/m"
    timeout 300 "$cut" "$PMEM/x/p" >"$PMEM/x/plain.out" || status=$?
    [ "$status" -ne 0 ] || timeout 300 env "${LIB_ENV[@]}" "$cut" "$PMEM/x/m" \
        >"$PMEM/x/managed.out" || status=$?
    [ "$status" -ne 0 ] || diff -u "$PMEM/x/plain.out" "$PMEM/x/managed.out" || status=$?
    local f
    for f in reads writes mapped sent; do
        [ "$status" -ne 0 ] || cmp "$PMEM/x/p/$f" "$PMEM/x/m/$f" || status=$?
    done
    [ "$status" -ne 0 ] || timeout 300 env "${LIB_ENV[@]}" "$storm" "$PMEM/x/m" 2 || status=$?
    rm -rf "$PMEM/x"
    return "$status"
}

# step_reopen REOPEN LINGERTHREADS: files closed and opened again at once
# (their mapping kept, or the whole file lingering), and threads doing so
# on shared files; both linked with the library.
step_reopen() {
    local reopen=$1 lingerthreads=$2 status=0
    rm -rf "$PMEM/r" && mkdir -p "$PMEM/r"
    timeout 300 env NVMMIO_PATH="$PMEM/r" ASAN_OPTIONS=detect_leaks=0 "$reopen" "$PMEM/r" ||
        status=$?
    rm -rf "$PMEM/r" && mkdir -p "$PMEM/r"
    [ "$status" -ne 0 ] || timeout 300 env NVMMIO_PATH="$PMEM/r" ASAN_OPTIONS=detect_leaks=0 \
        "$lingerthreads" "$PMEM/r" 4 200 || status=$?
    rm -rf "$PMEM/r"
    return "$status"
}

guest_main() {
    local build=$1 ops=$2 kills=$3
    local lib=$build/libnvmmio.so
    echo "guest: $(uname -r), $(grep " $PMEM " /proc/mounts)"
    run_step "mapsync_probe on $PMEM" step_mapsync_probe "$build/tests/dax/mapsync_probe"
    run_step "library maps with MAP_SYNC" step_library_uses_map_sync "$lib"
    run_step "difftest seed 1, $ops ops" step_difftest "$lib" \
        "$build/tests/posix/nvmmio_difftest" "$ops"
    run_step "killtest seed 5, $kills kills" step_killtest "$lib" \
        "$build/tests/crash/nvmmio_killtest" "$kills"
    run_step "threads: 4 writers, one file turns concurrent" step_threads \
        "$build/tests/posix/nvmmio_threads"
    run_step "cp of 8 MiB, compared" step_copy "$lib"
    run_step "share: writes in place, and a writer killed in one" step_share "$lib" \
        "$build/tests/share/nvmmio_share" "$build/nvmmio"
    run_step "a file cut shorter by a program without the library" step_cut "$lib" \
        "$build/tests/posix/nvmmio_cut" "$build/tests/posix/nvmmio_cutstorm"
    run_step "files closed and opened again at once, lingering, by threads too" step_reopen \
        "$build/tests/newfile/nvmmio_reopen" "$build/tests/newfile/nvmmio_lingerthreads"
    # Never 125: the host side reads that as "the guest did not start".
    return "$FAILED"
}

# ------------------------------------------------------------------- host side

require_files() {
    local f missing=0
    for f in "$@"; do
        if [ ! -f "$f" ]; then
            echo "FAIL: missing $f (build the project first)"
            missing=1
        fi
    done
    return "$missing"
}

host_main() {
    local build source status=0 guest_script
    build=$(realpath -e -- "$1") || { echo "FAIL: no build directory $1"; exit 1; }
    source=$(realpath -e -- "$2") || { echo "FAIL: no source directory $2"; exit 1; }
    require_files "$build/libnvmmio.so" "$build/tests/dax/mapsync_probe" \
        "$build/tests/posix/nvmmio_difftest" "$build/tests/crash/nvmmio_killtest" \
        "$build/tests/posix/nvmmio_threads" "$build/tests/share/nvmmio_share" \
        "$build/tests/posix/nvmmio_cut" "$build/tests/posix/nvmmio_cutstorm" \
        "$build/tests/newfile/nvmmio_reopen" "$build/tests/newfile/nvmmio_lingerthreads" \
        "$build/nvmmio" || exit 1

    export NVMMIO_VM_PMEM_MB=${NVMMIO_VM_PMEM_MB:-1024}
    guest_script=$build/tests/dax/run_in_pmem_vm.guest.sh
    cp -- "${BASH_SOURCE[0]}" "$guest_script"
    bash "$source/scripts/pmem-vm.sh" "$build" bash "$guest_script" --in-guest "$build" \
        "${NVMMIO_DAX_OPS:-3000}" "${NVMMIO_DAX_KILLS:-20}" || status=$?
    case $status in
    0) echo "dax_core: all passed" ;;
    125)
        echo "SKIP: no emulated-pmem guest could be started here (see the pmem-vm messages above)"
        exit 77
        ;;
    *)
        echo "FAIL: dax_core (status $status)"
        exit 1
        ;;
    esac
}

if [ "${1:-}" = --in-guest ]; then
    shift
    [ $# -eq 3 ] || { echo "usage: $0 --in-guest BUILD_DIR OPS KILLS"; exit 1; }
    guest_main "$@"
else
    [ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 1; }
    host_main "$@"
fi
