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
#   --media LIST     comma list of tmpfs (4 KiB pages under /dev/shm),
#                    huge (a tmpfs of its own, huge=always; root only) and
#                    dax (ext4 -o dax=always in the QEMU guest of
#                    scripts/pmem-vm.sh: ratios only, the guest CPU is
#                    emulated; results in OUT/APP-dax.*); default tmpfs,huge
#   --dax-args ARGS  options for APP.py in the guest only (default
#                    $APPS_DAX_ARGS; sqlite.sh sets --n 200)
#   --out DIR        results directory (default evaluation/results)
#   other options go to APP.py (see its --help)

apps_main() {
    local app=$1 pkgs=$2 cmds=$3 what=$4
    shift 4
    local here rounds='' media=tmpfs,huge out='' quick=() extra=() m args=() status=0 dax=0
    local dax_args=${APPS_DAX_ARGS:-}
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=(--quick) ;;
        --rounds) rounds=$2; shift ;;
        --media) media=$2; shift ;;
        --out) out=$2; shift ;;
        --dax-args) dax_args=$2; shift ;;
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
        if [ "$m" = dax ]; then
            dax=1
        elif eval_medium_dir "$m" "$app"; then
            args+=(--medium "$m=$EVAL_MEDIUM_DIR")
            echo "medium $m: $(eval_medium_text "$m")" | tee -a "$out/$app.txt"
        fi
    done
    [ ${#args[@]} -gt 0 ] || [ "$dax" = 1 ] || { eval_note "no medium"; exit 2; }
    echo "library side: LD_PRELOAD, NVMMIO_PATH=<its directory>, PMEM_IS_PMEM_FORCE=1" | tee -a "$out/$app.txt"
    if [ ${#args[@]} -gt 0 ]; then
        python3 "$here/$app.py" --lib "$EVAL_LIB" "${args[@]}" --rounds "$rounds" "${quick[@]}" \
            --csv "$out/$app.csv" --plot "$out/$app.png" "${extra[@]}" | tee -a "$out/$app.txt" || status=$?
    fi
    eval_cleanup_media
    if [ "$dax" = 1 ]; then
        # shellcheck disable=SC2086 # an option list
        apps_in_dax_guest "$app" "$here" "$out" --rounds "$rounds" "${quick[@]}" "${extra[@]}" $dax_args ||
            status=1
    fi
    echo "$app.sh took $((SECONDS - start)) s" | tee -a "$out/$app.txt"
    # 1: a run failed or a data check found wrong data (see the notes)
    return "$status"
}

# apps_in_dax_guest APP HERE OUT APP.PY-OPTIONS...: APP.py on /mnt/pmem
# (ext4, dax=always) in the guest of scripts/pmem-vm.sh, which sees the
# host's / read-only and a staged copy of the scripts and the library.
apps_in_dax_guest() {
    local app=$1 here=$2 out=$3 stage rc
    shift 3
    stage=$out/.$app-dax-stage
    rm -rf -- "$stage"
    mkdir -p "$stage/apps"
    cp "$here"/*.py "$stage/apps/"
    cp "$here/../barchart.py" "$stage/"
    cp "$EVAL_LIB" "$stage/libnvmmio.so"
    {
        echo "== $app on ext4-DAX in a QEMU guest: RELATIVE FIGURES ONLY (the guest CPU is emulated)"
        eval_machine
    } | tee "$out/$app-dax.txt"
    export NVMMIO_VM_TIMEOUT=${NVMMIO_VM_TIMEOUT:-3600}
    {
        rc=0
        "$EVAL_TOP/scripts/pmem-vm.sh" "$stage" python3 "$stage/apps/$app.py" \
            --lib "$stage/libnvmmio.so" --medium dax=/mnt/pmem "$@" \
            --csv "$stage/$app-dax.csv" --plot "$stage/$app-dax.png" || rc=$?
        echo "$rc" >"$stage/rc"
    } 2>&1 | tee -a "$out/$app-dax.txt"
    rc=$(cat "$stage/rc")
    [ "$rc" = 0 ] || echo "pmem-vm.sh exited with $rc (125: no guest could be set up here)" | tee -a "$out/$app-dax.txt"
    mv -f "$stage/$app-dax.csv" "$stage/$app-dax.png" "$stage/$app-dax.dat" "$out/" 2>/dev/null || true
    rm -rf -- "$stage"
    return "$rc"
}
