#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/smoke.sh [LIBNVMMIO.so] - a seconds-long run of the
# evaluation scripts with tiny sizes, into a scratch directory that is
# removed afterwards. Exit 0 when every script ran and wrote its CSV with a
# header and data rows; 1 otherwise. Timing is never checked.
#
# LIBNVMMIO.so (or $NVMMIO_LIB) is the library to measure; without it the
# scripts build one (see common.sh). A run that failed under the library
# shows up as "failed" in a CSV's status column and is printed as a warning;
# with NVMMIO_SMOKE_STRICT=1 it also fails the smoke test.
#
# Exit 77 (ctest's usual skip code) when a tool the scripts need is missing
# and cannot be installed here (not root, no apt-get or no network).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 0 ] || export NVMMIO_LIB=$1
# shellcheck source=common.sh
. "$HERE/common.sh"
eval_need_packages fio sqlite3 python3 gnuplot-nox time gcc libc6-dev hyperfine rocksdb-tools \
    redis-server redis-tools
for c in fio sqlite3 python3 gcc /usr/bin/time timeout db_bench ldb redis-server redis-cli redis-benchmark; do
    command -v "$c" >/dev/null 2>&1 || { echo "smoke: skipped: '$c' is missing"; exit 77; }
done
eval_library # once, for all the scripts
export NVMMIO_LIB=$EVAL_LIB NVMMIO_EVAL_BUILT_FROM=$EVAL_BUILT_FROM
out=$(mktemp -d /tmp/nvmmio-eval-smoke.XXXXXX)
trap 'rm -rf -- "$out"' EXIT INT TERM

bad=0
run() { # name, csv, command...
    local name=$1 csv=$2 status=0 t0=$SECONDS
    shift 2
    "$@" --out "$out" >"$out/$name.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "smoke: $name exited with $status; its output:"
        tail -n 40 "$out/$name.log"
        bad=1
    elif [ ! -s "$out/$csv" ] || [ "$(wc -l <"$out/$csv")" -lt 2 ]; then
        echo "smoke: $name wrote no $csv (or no data rows)"
        bad=1
    else
        echo "smoke: $name ok ($((SECONDS - t0)) s, $(($(wc -l <"$out/$csv") - 1)) rows in $csv)"
        if grep -qi 'fail' "$out/$csv"; then
            echo "smoke: warning: $csv reports failed runs:"
            grep -i 'fail' "$out/$csv" | sed 's/^/    /'
            [ "${NVMMIO_SMOKE_STRICT:-0}" != 1 ] || bad=1
        fi
    fi
}

# 4 KiB workloads only: each fio run costs about half a second whatever its
# runtime, and the 64 KiB ones differ only in --bs.
run fio fio.csv "$HERE/fio/run.sh" --quick --size 4 --runtime 0.1 --only '-4k$'
# The applications on the 4 KiB-page tmpfs, one round, each checking the data
# the library wrote with the program run without it (an application script
# exits 1 on wrong data, a crash or a hang, so those fail this test).
run sqlite sqlite.csv "$HERE/apps/sqlite.sh" --quick --media tmpfs --n 20
run rocksdb rocksdb.csv "$HERE/apps/rocksdb.sh" --quick --media tmpfs --num 200
run redis redis.csv "$HERE/apps/redis.sh" --quick --media tmpfs --n 500
run startup startup.csv "$HERE/startup/run.sh" --runs 3
run files files.csv "$HERE/files/run.sh" --rounds 1 --n 200 --churn 100 --limit 1024
run tx tx.csv "$HERE/tx/run.sh" --rounds 1 --iterations 200
exit $bad
