#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# run_fuzz.sh FUZZER|none SEEDS REGRESSIONS SECONDS
#
# Runs every input of REGRESSIONS once (each failed once), then fuzzes for
# SECONDS from the seeds in SEEDS, new inputs kept in a fresh directory under
# /dev/shm that is removed at the end. Prints the executions and the time
# run. Exits 77 (skipped) when no fuzzer could be built.
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 FUZZER|none SEEDS REGRESSIONS SECONDS" >&2
    exit 2
fi
fuzzer=$1 seeds=$2 regressions=$3 seconds=$4
if [ "$fuzzer" = none ] || [ ! -x "$fuzzer" ]; then
    echo "skipped: clang with libFuzzer (clang, libclang-rt-14-dev) was not found at configure time"
    exit 77
fi
work=$(mktemp -d /dev/shm/nvmmio-fuzzrun.XXXXXX) || exit 2
trap 'rm -rf -- "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

mapfile -t old < <(find "$regressions" -type f ! -name '*.md' | LC_ALL=C sort)
if [ ${#old[@]} -gt 0 ]; then
    echo "== ${#old[@]} regression inputs"
    "$fuzzer" -runs=1 "${old[@]}" >"$work/regress.log" 2>&1 || {
        cat "$work/regress.log"
        echo "fuzz_recovery: a regression input fails"
        exit 1
    }
fi

echo "== fuzzing for ${seconds}s from $(find "$seeds" -type f | wc -l) seeds"
mkdir "$work/corpus" "$work/artifacts"
start=$(date +%s)
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
rc=$?
end=$(date +%s)
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$work/fuzz.log"
execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$work/fuzz.log")
echo "fuzz_recovery: ${execs:-?} executions in $((end - start)) s"
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/fuzz.log"
    for a in "$work"/artifacts/*; do
        [ -f "$a" ] && echo "failing input (base64, add it to tests/fuzz/regressions/):" &&
            base64 -w0 "$a" && echo
    done
    echo "fuzz_recovery: FAILED"
    exit 1
fi
echo "fuzz_recovery: no failure"
