#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/fio/busy.sh - the fio rows of run.sh with one CPU-bound
# process beside them the whole time (a shell loop that never sleeps), as
# on a machine whose other cores are busy: the library's helper thread and
# the kernel then compete with it for the CPU.
#
# Usage: evaluation/fio/busy.sh [--out DIR] [run.sh options]
#
#   --out DIR   results directory (default evaluation/results/busy): run.sh
#               writes its fio*.csv, .png and .txt there
#   run.sh options as run.sh takes them; default --only 'append-4k$'
#
# Each medium as run.sh runs it (--medium huge for the huge-page tmpfs).
# Timing is never asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

out=$HERE/../results/busy args=()
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
    esac
done
[[ " ${args[*]-} " == *" --only "* ]] || args+=(--only 'append-4k$')

# The hog: a loop of shell built-ins, no system call at all.
bash -c 'while :; do :; done' &
hog=$!
trap 'kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null || true' EXIT
echo "busy.sh: a CPU-bound process (pid $hog) runs beside every fio run"
"$HERE/run.sh" --out "$out" "${args[@]}"
