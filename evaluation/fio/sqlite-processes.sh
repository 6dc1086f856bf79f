#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/fio/sqlite-processes.sh - one SQLite database written by two
# sqlite3 processes at once: each inserts ROWS rows, every insert its own
# transaction (synchronous=FULL, .timeout 10000), in the DELETE, TRUNCATE,
# PERSIST and WAL journal modes; under the library (both processes) and
# through the kernel, in turn, ROUNDS times. Prints the median rows per second of both together, the
# library / kernel ratio, and checks every run's database without the
# library (integrity_check, row count): a failed check is printed, never
# hidden.
#
# Usage: evaluation/fio/sqlite-processes.sh [--rounds N] [--rows N] LIB
#
# Medium: a fresh directory under /dev/shm, PMEM_IS_PMEM_FORCE=1 for the
# library. Timing is never asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../common.sh
. "$HERE/../common.sh"

rounds=3 rows=1000
while [ $# -gt 1 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    *) echo "unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
eval_need_commands sqlite3 python3
lib=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

eval_shm_dir sqlite-processes
dir=$EVAL_SHM

# inserts JOURNAL WHO: the script of process WHO (0 or 1), ids apart.
inserts() {
    echo ".timeout 10000"
    echo "PRAGMA journal_mode=$1;"
    local base=$(($2 * 1000000))
    for i in $(seq "$base" $((base + rows - 1))); do
        echo "INSERT INTO t VALUES($i, printf('%0100d', $i));"
    done
}

# run MODE JOURNAL: rows per second of both processes together.
run() {
    local mode=$1 journal=$2 env=()
    [ "$mode" = lib ] && env=(LD_PRELOAD="$lib" NVMMIO_PATH="$dir" PMEM_IS_PMEM_FORCE=1)
    rm -rf "${dir:?}"/db* "$dir/.nvmmio" && mkdir -p "$dir/.nvmmio"
    sqlite3 "$dir/db" "PRAGMA journal_mode=$journal; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);" >/dev/null
    inserts "$journal" 0 >"$dir/s0.sql"
    inserts "$journal" 1 >"$dir/s1.sql"
    local start end
    start=$(date +%s%N)
    env "${env[@]}" sqlite3 -batch -bail "$dir/db" <"$dir/s0.sql" >/dev/null &
    local p0=$!
    env "${env[@]}" sqlite3 -batch -bail "$dir/db" <"$dir/s1.sql" >/dev/null &
    local p1=$! rc=0
    wait "$p0" || rc=$?
    wait "$p1" || rc=$?
    end=$(date +%s%N)
    local check
    check=$(sqlite3 "$dir/db" "PRAGMA integrity_check; SELECT count(*) FROM t;" | tr '\n' ' ')
    if [ "$rc" -ne 0 ] || [ "$check" != "ok $((2 * rows)) " ]; then
        echo "FAILED: $mode $journal: exit $rc, check: $check" >&2
        echo 0
        return
    fi
    python3 -c "print(round($((2 * rows)) / (($end - $start) / 1e9)))"
}

eval_machine
echo "medium: $dir (tmpfs), $rows rows a process, $rounds rounds in turn"
printf '%-8s %10s %10s %8s\n' journal kernel library ratio
for journal in DELETE TRUNCATE PERSIST WAL; do
    k=() l=()
    for _ in $(seq "$rounds"); do
        k+=("$(run kernel "$journal")")
        l+=("$(run lib "$journal")")
    done
    python3 - "$journal" "${k[*]}" "${l[*]}" <<'EOF'
import statistics, sys
journal, k, l = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
a = statistics.median(map(int, k)); b = statistics.median(map(int, l))
print(f"{journal:<8} {a:10.0f} {b:10.0f} {b / a if a else 0:8.2f}")
EOF
done
