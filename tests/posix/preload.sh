# SPDX-License-Identifier: BSD-3-Clause
# preload.sh - sourced by run_difftest.sh and run_mpdiff.sh: what both need
# to run a tester once with and once without the library.
#
#   check_env_args VAR=value...  exits 2 on an argument that is no
#                                environment assignment
#   preload_of LIB BIN           sets `preload` to what LD_PRELOAD must name
#                                for LIB under tester BIN ("" for LIB none);
#                                exits 2 when LIB cannot be used
#   scratch_dir NAME             sets `dir` to a fresh directory under
#                                /dev/shm with managed/ and plain/ in it,
#                                removed at exit
#   run_both BIN                 BIN DIR on $dir/plain and, under the
#                                library, on $dir/managed, its output in
#                                $dir/plain.out and $dir/managed.out
#   same_as_kernel FILE...       the two outputs and the named files of the
#                                two directories compared; status 1 when
#                                any differs

check_env_args() {
    for a in "$@"; do
        case $a in
        *=*) ;;
        *)
            echo "$0: not an environment assignment: $a" >&2
            exit 2
            ;;
        esac
    done
}

# The path of a sanitizer runtime ($2: asan or tsan) that a binary or
# library ($1) is linked against, if any.
runtime_of() {
    ldd "$1" 2>/dev/null | awk -v re="lib$2\\.so" '$0 ~ re { print $3; exit }'
}

preload_of() {
    local lib=$1 bin=$2 asan
    preload=
    [ "$lib" != none ] || return 0
    if [ ! -f "$lib" ]; then
        echo "$0: library not found: $lib" >&2
        exit 2
    fi
    # An ASan library or tester needs the ASan runtime first in the initial
    # library list, ahead of the preloaded library.
    asan=$(runtime_of "$lib" asan)
    [ -n "$asan" ] || asan=$(runtime_of "$bin" asan)
    # A TSan library cannot be preloaded: the process dies at start with
    # "SEGV on unknown address" in the runtime, under a TSan tester too (and
    # putting libtsan first would route fstat through its interceptor, which
    # calls __fxstat and so bypasses the library's fstat). The threaded
    # tests link the library instead (NVMMIO_LINKED).
    if [ -n "$(runtime_of "$lib" tsan)" ]; then
        echo "$0: $lib uses ThreadSanitizer, which cannot be preloaded; link the tester with it" >&2
        exit 2
    fi
    preload=$lib
    [ -z "$asan" ] || preload="$asan:$lib"
}

scratch_dir() {
    dir=$(mktemp -d "/dev/shm/$1.XXXXXX") || exit 2
    trap 'rm -rf -- "$dir"' EXIT
    mkdir "$dir/managed" "$dir/plain" || exit 2
}

run_both() {
    "$1" "$dir/plain" >"$dir/plain.out" &&
        env NVMMIO_PATH="$dir/managed" LD_PRELOAD="$preload" "$1" "$dir/managed" >"$dir/managed.out"
}

same_as_kernel() {
    local f status=0
    diff -u --label kernel --label library "$dir/plain.out" "$dir/managed.out" || status=1
    for f in "$@"; do
        cmp "$dir/plain/$f" "$dir/managed/$f" || status=1
    done
    return $status
}
