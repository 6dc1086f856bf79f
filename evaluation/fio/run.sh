#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/fio/run.sh - unmodified fio, three ways, in one run on one tmpfs:
#
#   kernel   fio --ioengine=psync on a plain directory (kernel syscalls)
#   library  the same fio command under LD_PRELOAD=libnvmmio.so with
#            NVMMIO_PATH=<its directory> and PMEM_IS_PMEM_FORCE=1
#   mmap     fio --ioengine=mmap on a plain directory: loads and stores on a
#            shared mapping, the physical limit of the medium
#
# Usage: evaluation/fio/run.sh [--quick] [--dax] [--medium M] [--size MB] [--runtime S] [--out DIR]
#
#   --size MB     file size per job (default 128; --quick 16)
#   --runtime S   seconds per fio run, fractions allowed (default 5; --quick 1)
#   --out DIR     results directory (default evaluation/results); writes
#                 fio.csv, fio.png, fio.txt (the printed table) and the raw
#                 fio JSON and stderr under fio-raw/
#   --only REGEX  run only the workloads whose id (first column of the
#                 list in workloads() below, e.g. overwrite-fsync1-4k)
#                 matches the extended regular expression REGEX
#   --medium M    tmpfs (default: a directory under /dev/shm, 4 KiB pages)
#                 or huge (a tmpfs of its own mounted huge=always, 2 MiB
#                 pages, the closer stand-in for DAX; root only): writes
#                 fio-huge.csv, fio-huge.png, fio-huge.txt, fio-huge-raw/
#   --dax         instead of the tmpfs runs, run kernel vs library inside
#                 scripts/pmem-vm.sh (QEMU guest, ext4 -o dax=always at
#                 /mnt/pmem, MAP_SYNC). The guest CPU is emulated (TCG,
#                 15-30x slower): its figures are only meaningful relative to
#                 each other. Writes fio-dax.csv, fio-dax.png, fio-dax.txt.
#                 Default size there 32 MB (--quick 8).
#
# Workloads (4 KiB and 64 KiB blocks): sequential read, random read, append
# to a new file, random overwrite of an existing file with fsync after every
# write / every 32 writes / never, random overwrite in sync mode (--sync=1:
# O_SYNC for the kernel; the library's sync mode). Plus 4 KiB random
# overwrite, fsync never, with 2 jobs: both over all of one shared file,
# each over its own half of one file (no mmap run: fio's mmap engine maps
# the whole file per job), and on separate files. The 1-job case is the
# "fsync never" row; the report prints each 2-job row over it, and then the
# targets the project set itself, met or missed.
#
# All runs use --fallocate=none and --thread (jobs are threads of one
# process: the library serves a file from one process at a time, so two
# forked jobs on one shared file would leave the second on kernel IO). The
# psync runs are time_based except append: appending for a fixed time would
# wrap around and overwrite, so append runs --loops with --unlink_each_loop
# (a fresh file of --size per loop) and stops at --runtime.
#
# The mmap engine cannot append (fio lays the file out first, FIO_NOEXTEND):
# its append row is a sequential write into a preallocated file and is marked
# so. Sync mode has no meaning for stores to a mapping: its mmap row is an
# msync after every write (--fsync=1). On tmpfs msync has nothing to write.
# The mmap column is what fio's mmap engine measures, page faults included;
# the engine unmaps and maps the file again whenever an IO ends at the last
# block of the file (fio 3.33, engines/mmap.c), which random runs hit every
# few thousand IOs: a reference figure, not a strict upper bound.
#
# Bandwidth is bytes moved per second of job runtime (MB = 10^6 bytes),
# fsync time included. Latency is fio's completion latency (clat) of the
# read or write calls; fsync calls are timed separately by fio and are not in
# it. Timing is reported, never asserted: the script fails only when it
# cannot run at all; a failed fio run is shown as "fail" in the table.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

QUICK=0 DAX=0 MEDIUM=tmpfs SIZE='' RUNTIME='' OUT='' INNER=0 ONLY=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --dax) DAX=1 ;;
    --medium) MEDIUM=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --runtime) RUNTIME=$2; shift ;;
    --out) OUT=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --in-guest) INNER=1 ;; # internal: the part that runs inside pmem-vm.sh
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -z "$SIZE" ]; then
    if [ "$DAX" = 1 ]; then SIZE=$([ "$QUICK" = 1 ] && echo 8 || echo 32)
    else SIZE=$([ "$QUICK" = 1 ] && echo 16 || echo 128); fi
fi
[ -n "$RUNTIME" ] || RUNTIME=$([ "$QUICK" = 1 ] && echo 1 || echo 5)
case $MEDIUM in tmpfs | huge) ;; *) echo "--medium must be tmpfs or huge" >&2; exit 2 ;; esac
if ! [[ $SIZE =~ ^[0-9]+$ ]] || [ "$SIZE" -eq 0 ]; then echo "--size must be a positive integer (MB)" >&2; exit 2; fi
RUNTIME_MS=$(python3 -c 'import sys; v=float(sys.argv[1]); assert v>0; print(max(100,int(v*1000)))' "$RUNTIME" 2>/dev/null) ||
    { echo "--runtime must be a positive number of seconds" >&2; exit 2; }

# The workloads: id | label | fio args for psync | fio args for mmap ("-": n/a) | mmap note
workloads() {
    local bs B
    for bs in 4k 64k; do
        B=${bs^^}
        echo "seqread-$bs|seq read $B|--rw=read --bs=$bs --time_based|--rw=read --bs=$bs --time_based|"
        echo "randread-$bs|rand read $B|--rw=randread --bs=$bs --time_based|--rw=randread --bs=$bs --time_based|"
        echo "append-$bs|append $B (new file)|--rw=write --bs=$bs --loops=1000000 --unlink_each_loop=1|--rw=write --bs=$bs --time_based|mmap: seq write into a preallocated file"
        echo "overwrite-fsync1-$bs|rand overwrite $B, fsync 1|--rw=randwrite --bs=$bs --overwrite=1 --fsync=1 --time_based|--rw=randwrite --bs=$bs --overwrite=1 --fsync=1 --time_based|mmap: fsync is msync(MS_SYNC) of the mapping"
        echo "overwrite-fsync32-$bs|rand overwrite $B, fsync 32|--rw=randwrite --bs=$bs --overwrite=1 --fsync=32 --time_based|--rw=randwrite --bs=$bs --overwrite=1 --fsync=32 --time_based|mmap: fsync is msync(MS_SYNC) of the mapping"
        echo "overwrite-nofsync-$bs|rand overwrite $B, no fsync|--rw=randwrite --bs=$bs --overwrite=1 --time_based|--rw=randwrite --bs=$bs --overwrite=1 --time_based|"
        echo "overwrite-sync-$bs|rand overwrite $B, sync mode|--rw=randwrite --bs=$bs --overwrite=1 --sync=1 --time_based|--rw=randwrite --bs=$bs --overwrite=1 --fsync=1 --time_based|mmap: stores have no sync mode; msync after every write"
    done
    echo "2jobs-shared-4k|2 jobs, 1 shared file, 4K|--rw=randwrite --bs=4k --overwrite=1 --numjobs=2 --filename=shared.dat --time_based|--rw=randwrite --bs=4k --overwrite=1 --numjobs=2 --filename=shared.dat --time_based|"
    echo "2jobs-separate-4k|2 jobs, separate files, 4K|--rw=randwrite --bs=4k --overwrite=1 --numjobs=2 --time_based|--rw=randwrite --bs=4k --overwrite=1 --numjobs=2 --time_based|"
    local half=$((SIZE * 512))k
    echo "2jobs-disjoint-4k|2 jobs, halves of 1 file, 4K|--rw=randwrite --bs=4k --overwrite=1 --numjobs=2 --filename=shared.dat --size=$half --offset_increment=$half --time_based|-|"
}

# run_one ROOT RAWDIR ID MODE ARGS...: one fio run in a fresh ROOT/MODE
# directory, removed afterwards. MODE library runs under the library.
run_one() {
    local root=$1 raw=$2 id=$3 mode=$4
    shift 4
    local dir=$root/$mode json=$raw/$id.$mode.json err=$raw/$id.$mode.err status=0
    local limit=$((RUNTIME_MS * 4 / 1000 + 120))
    [ "$INNER" = 1 ] && limit=$((limit * 10))
    rm -rf -- "$dir"
    mkdir -p -- "$dir"
    rm -f -- "$json" "$err"
    local envv=()
    if [ "$mode" = library ]; then
        envv=(LD_PRELOAD="$EVAL_LIB" NVMMIO_PATH="$dir")
        [ "$INNER" = 1 ] || envv+=(PMEM_IS_PMEM_FORCE=1)
    fi
    env "${envv[@]}" timeout -k 10 "$limit" fio --name="$id" --directory="$dir" --size="${SIZE}m" \
        --runtime="${RUNTIME_MS}ms" --fallocate=none --thread --group_reporting \
        --output-format=json --output="$json" "$@" </dev/null 2>"$err" || status=$?
    [ "$status" -eq 0 ] || echo "fio exit status $status" >>"$err"
    # A library run leaves ROOT/.nvmmio (owners file) behind when it managed files.
    rm -f -- "$raw/$id.$mode.unmanaged"
    [ "$mode" != library ] || [ -d "$dir/.nvmmio" ] || : >"$raw/$id.$mode.unmanaged"
    [ -s "$err" ] || rm -f -- "$err"
    rm -rf -- "$dir"
    printf '  %-24s %-8s %s\n' "$id" "$mode" "$([ "$status" -eq 0 ] && echo ok || echo "FAILED ($status), see $err")" >&2
}

# run_all ROOT RAWDIR MODE...: every workload in every mode.
run_all() {
    local root=$1 raw=$2
    shift 2
    local modes=("$@") id label pargs margs note mode
    mkdir -p "$raw"
    : >"$raw/workloads.txt"
    while IFS='|' read -r id label pargs margs note; do
        [ -z "$ONLY" ] || [[ $id =~ $ONLY ]] || continue
        echo "$id|$label|$note" >>"$raw/workloads.txt"
        for mode in "${modes[@]}"; do
            if [ "$mode" = mmap ]; then
                if [ "$margs" = - ]; then continue; fi
                # shellcheck disable=SC2086 # the argument lists are word lists
                run_one "$root" "$raw" "$id" mmap --ioengine=mmap $margs
            else
                # shellcheck disable=SC2086
                run_one "$root" "$raw" "$id" "$mode" --ioengine=psync $pargs
            fi
        done
    done < <(workloads)
}

# ------------------------------------------------------------ inside the guest
if [ "$INNER" = 1 ]; then
    EVAL_LIB=$HERE/libnvmmio.so
    root=/mnt/pmem/nvmmio-eval
    echo "guest: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs, $(uname -sr)"
    grep ' /mnt/pmem ' /proc/mounts
    mkdir -p "$root"
    run_all "$root" "$OUT" kernel library
    rm -rf -- "$root"
    exit 0
fi

# ------------------------------------------------------------------- the host
# shellcheck source=../common.sh
. "$HERE/../common.sh"
eval_need_packages fio python3 gnuplot-nox coreutils
eval_need_commands fio python3 timeout
command -v gnuplot >/dev/null 2>&1 || eval_note "gnuplot missing: no plot"
eval_library

OUT=${OUT:-$EVAL_TOP/evaluation/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
start=$(date +%s)

if [ "$DAX" = 0 ]; then
    name=fio$([ "$MEDIUM" = tmpfs ] || echo "-$MEDIUM")
    {
        echo "== fio: kernel (psync) vs libnvmmio (psync under LD_PRELOAD) vs mmap engine"
        eval_machine
        echo "medium:  $(eval_medium_text "$MEDIUM") as emulated pmem, PMEM_IS_PMEM_FORCE=1 for the library"
        echo "fio:     $(fio --version), size ${SIZE} MB per job, runtime ${RUNTIME} s per run, --thread"
    } | tee "$OUT/$name.txt"
    eval_medium_dir "$MEDIUM" fio || exit 2
    root=$EVAL_MEDIUM_DIR
    # Touch as much memory once as the largest run uses, so that the first
    # measured run does not pay the first-touch cost of fresh pages.
    dd if=/dev/zero of="$root/warm" bs=1M count=$((SIZE * 3)) status=none && rm -f "$root/warm"
    raw=$OUT/$name-raw
    rm -rf -- "$raw"
    run_all "$root" "$raw" kernel library mmap
    eval_cleanup_media
    python3 "$HERE/report.py" --raw "$raw" --modes kernel,library,mmap \
        --csv "$OUT/$name.csv" --plot "$OUT/$name.png" \
        --title "fio on $([ "$MEDIUM" = tmpfs ] && echo tmpfs || echo "tmpfs huge=always") (${SIZE} MB, ${RUNTIME} s per run)" | tee -a "$OUT/$name.txt"
else
    {
        echo "== fio on ext4-DAX in a QEMU guest: kernel (psync) vs libnvmmio"
        echo "   RELATIVE FIGURES ONLY: the guest CPU is emulated (TCG), 15-30x slower than native"
        eval_machine
        echo "fio:     $(fio --version), size ${SIZE} MB per job, runtime ${RUNTIME} s per run, --thread"
    } | tee "$OUT/fio-dax.txt"
    # The guest sees only the shared directory (and / read-only, without the
    # host's /tmp): stage this script and the library there.
    stage=$OUT/.fio-dax-stage
    rm -rf -- "$stage"
    mkdir -p "$stage/raw"
    cp "$HERE/run.sh" "$stage/"
    cp "$EVAL_LIB" "$stage/libnvmmio.so"
    runs=$(($(workloads | cut -d'|' -f1 | grep -cE "${ONLY:-.}") * 2))
    # Generous: guest runs are slower, and layout of each file is emulated too.
    export NVMMIO_VM_TIMEOUT=${NVMMIO_VM_TIMEOUT:-$((runs * (RUNTIME_MS / 1000 + 1) * 3 + SIZE * runs / 2 + 300))}
    export NVMMIO_VM_PMEM_MB=${NVMMIO_VM_PMEM_MB:-$((SIZE * 6 + 256))}
    {
        status=0
        "$EVAL_TOP/scripts/pmem-vm.sh" "$stage" bash "$stage/run.sh" --in-guest \
            --size "$SIZE" --runtime "$RUNTIME" --out "$stage/raw" ${ONLY:+--only "$ONLY"} || status=$?
        echo "$status" >"$stage/rc"
    } 2>&1 | tee -a "$OUT/fio-dax.txt"
    status=$(cat "$stage/rc")
    if [ "$status" -ne 0 ]; then
        echo "pmem-vm.sh exited with $status (125: no guest could be set up here)" | tee -a "$OUT/fio-dax.txt"
        rm -rf -- "$stage"
        exit 1
    fi
    rm -rf -- "$OUT/fio-dax-raw"
    mv "$stage/raw" "$OUT/fio-dax-raw"
    rm -rf -- "$stage"
    python3 "$HERE/report.py" --raw "$OUT/fio-dax-raw" --modes kernel,library \
        --csv "$OUT/fio-dax.csv" --plot "$OUT/fio-dax.png" --relative \
        --title "fio on ext4-DAX in a QEMU TCG guest (${SIZE} MB, ${RUNTIME} s per run) - relative figures only" |
        tee -a "$OUT/fio-dax.txt"
fi
echo "fio/run.sh took $(($(date +%s) - start)) s" | tee -a "$OUT/$([ "$DAX" = 1 ] && echo fio-dax || echo "$name").txt"
