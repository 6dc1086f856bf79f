#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The mutation gate (README.md here): every deliberate bug must be caught by
# the crash-model checker with every seed; a miss fails the gate.
#
#   mutation_gate.sh [--seeds "1 2 3"] [--jobs N] [--mutants FILE] [--] EXE...
#                    [-- CHECKER ARGS]
#
# Each EXE is nvmmio_crashmodel_mN (the checker built with mutant N); each is
# run with every seed and --expect-violation: it runs the workloads in turn
# and stops at the first violation it finds. A mutant whose line in FILE
# ends with [workload NAME] breaks what only that workload does, and is run
# on it alone. Prints one line per run and a
# table mutant x seed, with what each mutant breaks as src/mutants.h (or
# FILE) says.
set -u

seeds="1 2 3"
jobs=1
mutants=$(dirname "$0")/../../../src/mutants.h
exes=()
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --mutants) mutants=$2; shift 2 ;;
    --) shift; if [ ${#exes[@]} -gt 0 ]; then args=("$@"); break; fi ;;
    *) exes+=("$1"); shift ;;
    esac
done
[ ${#exes[@]} -gt 0 ] || { echo "usage: $0 [--seeds S] [--jobs N] [--mutants FILE] EXE... [-- ARGS]"; exit 2; }

# What mutant $1 breaks: its line " N: what" in the list of mutants.h.
what() {
    local line
    line=$(sed -n "s/^ \* *$1: //p" "$mutants")
    line=${line% \[workload *\]}
    echo "${line:-?}"
}

workload_of() {
    sed -n "s/^ \* *$1: .* \[workload \([a-z_]*\)\]\$/\1/p" "$mutants"
}

out=$(mktemp -d /dev/shm/nvmmio-gate.XXXXXX)
trap 'rm -rf "$out"' EXIT

run() { # exe seed
    local exe=$1 seed=$2 name log start end rc only
    name=$(basename "$exe")
    log="$out/$name.$seed"
    only=$(workload_of "${name##*_m}")
    start=$(date +%s%N)
    "$exe" --seed "$seed" --expect-violation ${only:+--workload "$only"} "${args[@]}" >"$log.txt" 2>&1
    rc=$?
    end=$(date +%s%N)
    echo "$rc $(awk "BEGIN { printf \"%.1f\", ($end - $start) / 1e9 }")" >"$log.rc"
}

echo "mutation gate: ${#exes[@]} mutants x seeds $seeds"
n=0
for exe in "${exes[@]}"; do
    for seed in $seeds; do
        run "$exe" "$seed" &
        n=$((n + 1))
        if [ $((n % jobs)) -eq 0 ]; then wait; fi
    done
done
wait

missed=0
printf '\n%-4s %-70s' "mut" "deliberate bug"
for seed in $seeds; do printf ' %-8s' "seed $seed"; done
printf '\n'
details=""
for exe in "${exes[@]}"; do
    name=$(basename "$exe")
    m=${name##*_m}
    printf '%-4s %-70s' "$m" "$(what "$m")"
    for seed in $seeds; do
        log="$out/$name.$seed"
        read -r rc secs <"$log.rc"
        if [ "$rc" -eq 0 ]; then
            printf ' %-8s' "caught"
            where=$(grep -m1 'violation found' "$log.txt" | sed 's/.*(\(.*\))/\1/')
            first=$(grep -m1 -E '^  -> ' "$log.txt" | sed 's/^  -> //')
            details+=$(printf '  m%-3s seed %s: %5.1f s, %s: %s' "$m" "$seed" "$secs" "$where" "$first")$'\n'
        else
            printf ' %-8s' "MISSED"
            missed=$((missed + 1))
            details+=$(printf '  m%-3s seed %s: MISSED (exit %s)' "$m" "$seed" "$rc")$'\n'
            tail -5 "$log.txt" | sed 's/^/      /' >"$log.tail"
            details+=$(cat "$log.tail")$'\n'
        fi
    done
    printf '\n'
done
printf '\nhow each was caught (first violation of each run):\n%s' "$details"
total=$((${#exes[@]} * $(echo "$seeds" | wc -w)))
echo "mutation gate: $((total - missed))/$total mutant runs caught, $missed missed"
[ $missed -eq 0 ]
