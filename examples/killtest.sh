# SPDX-License-Identifier: BSD-3-Clause
# killtest.sh - what the examples' kill tests share, sourced by them:
# a fresh directory removed at exit, failures counted, and one run of an
# example killed with SIGKILL at a random moment.
# Usage: . killtest.sh NAME  (sets $dir; defines fail and killed_run)
dir=$(mktemp -d "/dev/shm/nvmmio-$1.XXXXXX") || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# killed_run RUN WORD COMMAND...: runs COMMAND, output in $dir/out, and
# kills it at once (every fourth run) or up to 100 ms after it printed
# WORD. Fails when the library did not manage the example's files.
killed_run() {
    local run=$1 word=$2
    shift 2
    "$@" >"$dir/out" 2>&1 &
    pid=$!
    if [ $((run % 4)) -ne 0 ]; then
        for _ in $(seq 200); do
            grep -q "$word" "$dir/out" && break
            sleep 0.01
        done
        sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
    fi
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    pid=
    if grep -q "not managed" "$dir/out"; then
        fail "the example's files are not managed by the library"
        return 1
    fi
}
