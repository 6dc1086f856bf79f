# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# apps/common.sh - the shell side of every application script (sourced):
# options, packages, the library, the two media, then APP.py.
#
# apps_main APP "PACKAGES" "COMMANDS" "WHAT" ARGS...
#   runs APP.py on the media asked for and writes OUT/APP.txt (the printed
#   table, after the machine), OUT/APP.csv and OUT/APP.png.
#
# Options of every application script:
#   --quick          tiny sizes, one round (seconds)
#   --rounds N       rounds, kernel and library alternating (default 3)
#   --media LIST     comma list of tmpfs (4 KiB pages under /dev/shm) and
#                    huge (a tmpfs of its own, huge=always; root only);
#                    default tmpfs,huge
#   --out DIR        results directory (default evaluation/results)
#   other options go to APP.py (see its --help)

apps_main() {
    local app=$1 pkgs=$2 cmds=$3 what=$4
    shift 4
    local here rounds='' media=tmpfs,huge out='' quick=() extra=() m args=() status=0
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=(--quick) ;;
        --rounds) rounds=$2; shift ;;
        --media) media=$2; shift ;;
        --out) out=$2; shift ;;
        -h | --help)
            sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            sed -n '/^# Options/,/^$/p' "$here/common.sh" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *) extra+=("$1") ;;
        esac
        shift
    done
    [ -n "$rounds" ] || rounds=$([ ${#quick[@]} -gt 0 ] && echo 1 || echo 3)
    if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -eq 0 ]; then echo "--rounds must be a positive integer" >&2; exit 2; fi

    # shellcheck source=../common.sh
    . "$here/../common.sh"
    # shellcheck disable=SC2086 # word lists
    eval_need_packages $pkgs python3 gnuplot-nox
    # shellcheck disable=SC2086
    eval_need_commands $cmds python3 timeout
    eval_library

    out=${out:-$EVAL_TOP/evaluation/results}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    local start=$SECONDS
    {
        echo "== $app: $what, kernel vs libnvmmio on each medium"
        eval_machine
    } | tee "$out/$app.txt"
    for m in ${media//,/ }; do
        if eval_medium_dir "$m" "$app"; then
            args+=(--medium "$m=$EVAL_MEDIUM_DIR")
            echo "medium $m: $(eval_medium_text "$m")" | tee -a "$out/$app.txt"
        fi
    done
    [ ${#args[@]} -gt 0 ] || { eval_note "no medium"; exit 2; }
    echo "library side: LD_PRELOAD, NVMMIO_PATH=<its directory>, PMEM_IS_PMEM_FORCE=1" | tee -a "$out/$app.txt"
    python3 "$here/$app.py" --lib "$EVAL_LIB" "${args[@]}" --rounds "$rounds" "${quick[@]}" \
        --csv "$out/$app.csv" --plot "$out/$app.png" "${extra[@]}" | tee -a "$out/$app.txt" || status=$?
    eval_cleanup_media
    echo "$app.sh took $((SECONDS - start)) s" | tee -a "$out/$app.txt"
    # 1: a run failed or a data check found wrong data (see the notes)
    return "$status"
}
