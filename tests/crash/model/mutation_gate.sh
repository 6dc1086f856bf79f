#!/bin/bash
# The mutation gate (DESIGN.md §5): every deliberate bug must be caught by
# the crash-model checker with every seed; a miss fails the gate.
#
#   mutation_gate.sh [--seeds "1 2 3"] [--jobs N] [--] EXE... [-- CHECKER ARGS]
#
# Each EXE is nvmmio_crashmodel_mN (the checker built with mutant N); each is
# run with every seed and --expect-violation: it runs the workloads in turn
# and stops at the first violation it finds. Prints one line per run and a
# table mutant x seed.
set -u

seeds="1 2 3"
jobs=1
exes=()
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --) shift; if [ ${#exes[@]} -gt 0 ]; then args=("$@"); break; fi ;;
    *) exes+=("$1"); shift ;;
    esac
done
[ ${#exes[@]} -gt 0 ] || { echo "usage: $0 [--seeds S] [--jobs N] EXE... [-- ARGS]"; exit 2; }

# What each mutant breaks (the #if NVMMIO_MUTANT blocks in src/).
what() {
    case "$1" in
    1) echo "redo log data not flushed (nvfile.c write_records)" ;;
    2) echo "no fence before the commit (nvfile.c nvfile_commit)" ;;
    3) echo "checkpoint commits before its data is home (recovery.c)" ;;
    4) echo "commit flushed, never fenced: no final drain in fsync (log.c)" ;;
    5) echo "no drain after the checkpoint's copies (recovery.c)" ;;
    6) echo "commit record not flushed (log.c nvlog_commit)" ;;
    7) echo "log freed before the checkpoint is fenced (nvfile.c settle)" ;;
    8) echo "two-word commit slot trusted as atomic: no checksum (format.c)" ;;
    9) echo "recovery retires records before its replay is durable (recovery.c)" ;;
    10) echo "recovery does not restore the committed size (recovery.c)" ;;
    11) echo "sync-mode write returns before its commit (ops.c write_at)" ;;
    12) echo "undo pre-image replaced by a later one in the epoch (nvfile.c)" ;;
    13) echo "record data checksum not verified before recovery applies (format.c)" ;;
    *) echo "?" ;;
    esac
}

out=$(mktemp -d /dev/shm/nvmmio-gate.XXXXXX)
trap 'rm -rf "$out"' EXIT

run() { # exe seed
    local exe=$1 seed=$2 name log start end rc
    name=$(basename "$exe")
    log="$out/$name.$seed"
    start=$(date +%s%N)
    "$exe" --seed "$seed" --expect-violation "${args[@]}" >"$log.txt" 2>&1
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
printf '\n%-4s %-66s' "mut" "deliberate bug"
for seed in $seeds; do printf ' %-8s' "seed $seed"; done
printf '\n'
details=""
for exe in "${exes[@]}"; do
    name=$(basename "$exe")
    m=${name##*_m}
    printf '%-4s %-66s' "$m" "$(what "$m")"
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
total=$((${#exes[@]} * $(echo $seeds | wc -w)))
echo "mutation gate: $((total - missed))/$total mutant runs caught, $missed missed"
[ $missed -eq 0 ]
