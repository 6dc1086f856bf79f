#!/usr/bin/env bash
# evaluation/smoke.sh [LIBNVMMIO.so] - a seconds-long run of the three
# evaluation scripts with tiny sizes, into a scratch directory that is
# removed afterwards. Exit 0 when every script ran and wrote its CSV with a
# header and data rows; 1 otherwise. Timing is never checked.
#
# LIBNVMMIO.so (or $NVMMIO_LIB) is the library to measure; without it the
# scripts build one (see common.sh). A run that failed under the library
# shows up as "failed" in a CSV's status column and is printed as a warning;
# with NVMMIO_SMOKE_STRICT=1 it also fails the smoke test.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 0 ] || export NVMMIO_LIB=$1
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

run fio fio.csv "$HERE/fio/run.sh" --quick --size 4 --runtime 0.1
run sqlite sqlite.csv "$HERE/sqlite/run.sh" --n 20
run startup startup.csv "$HERE/startup/run.sh" --runs 3
exit $bad
