#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# shellcheck disable=SC2016 # bash -c scripts expand in the child
# run_app.sh LIB NAME - runs application scenario NAME (see scenarios.sh)
# twice from identical inputs, each in a fresh directory under /dev/shm:
#   side A: plainly, without the library;
#   side B: with LD_PRELOAD=LIB and NVMMIO_PATH=<side B's directory>,
# then compares exit status, stdout (directory names normalised), the file
# listing (find -printf '%P %y %m %s %l': path, type, mode, size, link
# target) and the sha256 of every regular file (the library's .nvmmio
# directory left out on side B). It checks that no log was left behind on
# side B, reads every side-B file again through the library (LD_PRELOAD
# cat | sha256sum: a stale read shows) and checks that doing so changed
# nothing on disk.
# Prints "app NAME: ok", or what differs and exits 1.
#
# NAME "all" runs every scenario in turn and fails if any fails.
# LIB "none" runs both sides plainly: the self-check that shows which bytes
# of a scenario differ from run to run by nature (see nondet_* there).
# NVMMIO_* and PMEM_IS_PMEM_FORCE set by the caller are passed to side B;
# NVMMIO_APPS_KEEP=1 keeps the directories (and says where) for a look;
# NVMMIO_APPS_TIMEOUT (seconds, default 120) bounds each side's run, so a
# hang shows as exit status 124 with its output rather than a killed test.
# NVMMIO_APPS_USER=UID runs both sides as that user (through setpriv), the
# way an ordinary user runs them: such a user meets files it made but may
# not open again (git makes its objects with mode 0444). Skipped (77)
# unless run as root with setpriv.
# Exit 2 for usage errors, 77 when LIB cannot be preloaded into arbitrary
# programs (a ThreadSanitizer build).
set -u

usage() {
    echo "usage: $0 LIB|none NAME" >&2
    echo "scenarios: $SCENARIOS" >&2
    exit 2
}

# Descriptors inherited from the caller (ctest, make, a terminal) would shift
# the numbers programs and the library get: close them (bash keeps 255).
for fd in "/proc/$$/fd/"*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then
        eval "exec $fd>&-"
    fi
done 2>/dev/null

APPS=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scenarios.sh
. "$APPS/scenarios.sh"
[ $# -eq 2 ] || usage
lib=$1
name=$2
if [ "$name" = all ]; then
    status=0
    for s in $SCENARIOS; do
        bash "$0" "$lib" "$s" || status=1
    done
    exit $status
fi
if ! declare -F "run_$name" >/dev/null || ! declare -F "setup_$name" >/dev/null; then
    usage
fi

# The python of the system (as deps.sh installs it) if there is one.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || {
    echo "$0: python3 not found" >&2
    exit 2
}

for prog in $(needs_of "$name"); do
    if ! command -v "$prog" >/dev/null; then
        echo "app $name: FAILED: $prog is not installed (see scripts/deps.sh)"
        exit 1
    fi
done

runtime_of() {
    ldd "$1" 2>/dev/null | awk -v re="lib$2\\.so" '$0 ~ re { print $3; exit }'
}

preload=
asan=
asan_options=
if [ "$lib" != none ]; then
    [ -f "$lib" ] || {
        echo "$0: library not found: $lib" >&2
        exit 2
    }
    lib=$(readlink -f "$lib")
    if [ -n "$(runtime_of "$lib" tsan)" ]; then
        echo "app $name: skipped: $lib uses ThreadSanitizer, which cannot be preloaded into uninstrumented programs"
        exit 77
    fi
    preload=$lib
    asan=$(runtime_of "$lib" asan)
fi

as_user=()
run_user=${NVMMIO_APPS_USER:-}
if [ -n "$run_user" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
        echo "app $name: skipped: running it as user $run_user needs root and setpriv"
        exit 77
    fi
    as_user=(setpriv --reuid="$run_user" --regid="$run_user" --clear-groups)
fi

T=$(mktemp -d /dev/shm/nvmmio-app.XXXXXX) || exit 2
if [ -n "${NVMMIO_APPS_KEEP:-}" ]; then
    echo "app $name: keeping $T" >&2
else
    trap 'rm -rf -- "$T"' EXIT
fi
A=$T/a
B=$T/b
mkdir "$A" "$B" "$T/a.scratch" "$T/b.scratch" || exit 2
if [ -n "$run_user" ]; then
    # The user must reach the library and the scenarios: copies in the
    # work directory, which anyone may read.
    chmod 755 "$T"
    mkdir "$T/bin" && cp -r "$APPS" "$T/bin/apps" || exit 2
    APPS=$T/bin/apps
    if [ -n "$preload" ]; then
        cp "$lib" "$T/bin/" || exit 2
        lib=$T/bin/$(basename "$lib")
        preload=$lib
    fi
    chmod -R a+rX "$T/bin"
    chown "$run_user" "$A" "$B" "$T/a.scratch" "$T/b.scratch" || exit 2
fi

if [ -n "$asan" ]; then
    # The ASan runtime must come first; real programs leak by design. Only
    # the aligned_alloc shim goes ahead of it (see aligned_alloc_shim.c),
    # which the runtime's link-order check must be told to accept.
    preload="$asan:$lib"
    asan_options="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    if ${CC:-cc} -shared -fPIC -O2 -o "$T/aligned_alloc_shim.so" "$APPS/aligned_alloc_shim.c" 2>"$T/cc.err"; then
        preload="$T/aligned_alloc_shim.so:$preload"
        asan_options="$asan_options:verify_asan_link_order=0"
    else
        echo "app $name: note: no aligned_alloc shim ($(head -1 "$T/cc.err")); dd and split abort under ASan" >&2
    fi
fi

# The environment of a scenario (into scen_env): only these, identical on
# both sides but for the work directory and the library.
env_for() { # DIR SCRATCH
    scen_env=("PATH=$PATH" "HOME=$1/home" "LC_ALL=C" "TZ=UTC" "TMPDIR=$1/tmp"
        "GIT_CONFIG_NOSYSTEM=1" "GIT_AUTHOR_DATE=1700000000 +0000"
        "GIT_COMMITTER_DATE=1700000000 +0000" "D=$1" "SCRATCH=$2" "APPS=$APPS" "PY=$PY")
}

# Microseconds since the epoch.
now_us() {
    local t=${EPOCHREALTIME/,/.}
    echo $((10#${t/./}))
}

# Side B's extra environment: the library and the caller's NVMMIO_* settings.
lib_env=()
if [ -n "$preload" ]; then
    lib_env=("LD_PRELOAD=$preload" "NVMMIO_PATH=$B")
    [ -z "$asan_options" ] || lib_env+=("ASAN_OPTIONS=$asan_options")
    while IFS='=' read -r k v; do
        case $k in
        NVMMIO_PATH | PMEM_PATH) ;;
        NVMMIO_* | PMEM_IS_PMEM_FORCE) lib_env+=("$k=$v") ;;
        esac
    done < <(env)
fi

side_timeout=${NVMMIO_APPS_TIMEOUT:-120}

# run_side SIDE DIR [library environment...]
run_side() {
    local side=$1 dir=$2
    shift 2
    env_for "$dir" "$T/$side.scratch"
    "${as_user[@]}" mkdir -p "$dir/home" "$dir/tmp"
    # inputs: always without the library
    if ! (cd "$dir" && "${as_user[@]}" env -i "${scen_env[@]}" bash -c '. "$APPS/scenarios.sh" && setup_'"$name") \
        >"$T/$side.setup" 2>&1; then
        echo "app $name: setup failed on side $side:" >&2
        cat "$T/$side.setup" >&2
        exit 2
    fi
    local t0 t1
    t0=$(now_us)
    (cd "$dir" && timeout -k 10 "$side_timeout" \
        "${as_user[@]}" env -i "${scen_env[@]}" "$@" bash -c '. "$APPS/scenarios.sh" && run_'"$name") \
        >"$T/$side.out" 2>"$T/$side.err"
    local rc=$?
    echo $rc >"$T/$side.rc"
    [ $rc -ne 124 ] || echo "app $name: side $side timed out after ${side_timeout}s" >>"$T/$side.err"
    t1=$(now_us)
    local ms=$(((t1 - t0) / 1000))
    printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)) >"$T/$side.time"
}

# Regex of paths whose bytes differ from run to run even without the
# library (nondet_NAME): their sha256 is left out of the comparison of the
# two sides (their listing line, size included, stays).
nondet='^$'
if declare -F "nondet_$name" >/dev/null; then
    nondet=$("nondet_$name")
fi

# listing DIR: path, type, mode, size and link target of everything but
# the library's directory.
listing() {
    (cd "$1" && find . -mindepth 1 -path ./.nvmmio -prune -o -printf '%P\t%y\t%m\t%s\t%l\n') |
        LC_ALL=C sort
}

# hashes DIR: sha256 of every regular file but the library's.
hashes() {
    (cd "$1" && find . -path ./.nvmmio -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0r sha256sum)
}

# The same, every file read through the library by a fresh process.
hashes_via_lib() {
    env_for "$1" "$T/b.scratch"
    (cd "$1" && find . -path ./.nvmmio -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z) |
        while IFS= read -r -d '' p; do
            local sum
            sum=$(cd "$1" && "${as_user[@]}" env -i "${scen_env[@]}" "${lib_env[@]}" cat -- "$p" |
                sha256sum)
            echo "${sum%% *}  $p"
        done
}

# deterministic: drops the lines of hashes' output that nondet_NAME names.
deterministic() {
    while read -r sum p; do
        [[ $p =~ $nondet ]] || echo "$sum  $p"
    done
}

run_side a "$A"
run_side b "$B" "${lib_env[@]}"

fail=0
report() { # TITLE FILE_A FILE_B
    if ! cmp -s "$2" "$3"; then
        echo "--- $1 differs (-plain +nvmmio):"
        diff -u --label plain --label nvmmio "$2" "$3" | tail -n +3 | head -n 80
        fail=1
    fi
}

for s in a b; do
    d=$A
    [ $s = b ] && d=$B
    sed "s|$d|@DIR@|g" "$T/$s.out" >"$T/$s.out.norm"
    listing "$d" >"$T/$s.list"
    hashes "$d" >"$T/$s.sums"
    deterministic <"$T/$s.sums" >"$T/$s.sums.det"
done

report "exit status" "$T/a.rc" "$T/b.rc"
report "stdout" "$T/a.out.norm" "$T/b.out.norm"
report "file listing (path type mode size link)" "$T/a.list" "$T/b.list"
report "file contents (sha256)" "$T/a.sums.det" "$T/b.sums.det"

if [ -n "$preload" ]; then
    if [ ! -d "$B/.nvmmio" ]; then
        echo "--- the library managed no file on side B (is LD_PRELOAD effective?)"
        fail=1
    fi
    # Every process has exited: each file's last close or exit settled it.
    logs=$(cd "$B" && find .nvmmio -name '*.log' 2>/dev/null | LC_ALL=C sort)
    if [ -n "$logs" ]; then
        echo "--- logs left behind after every process exited:"
        for l in $logs; do
            ino=$(basename "$l" .log)
            ino=$((16#${ino#*-}))
            echo "$l ($(cd "$B" && find . -xdev -inum "$ino" -printf '%P' 2>/dev/null))"
        done
        fail=1
    fi
    hashes_via_lib "$B" >"$T/b.sums.lib"
    report "contents read back through the library (cat under LD_PRELOAD)" "$T/b.sums" "$T/b.sums.lib"
    hashes "$B" >"$T/b.sums.after"
    report "side-B files after reading them through the library" "$T/b.sums" "$T/b.sums.after"
fi

if [ $fail -ne 0 ]; then
    for s in a b; do
        if [ -s "$T/$s.err" ]; then
            echo "--- stderr of side $s ($([ $s = a ] && echo plain || echo nvmmio)):"
            sed "s|$T/$s|@DIR@|g" "$T/$s.err" | head -n 40
        fi
    done
fi
echo "app $name: times plain $(cat "$T/a.time")s, nvmmio $(cat "$T/b.time")s"
if [ $fail -ne 0 ]; then
    echo "app $name: FAILED"
    exit 1
fi
echo "app $name: ok"
exit 0
