#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# cmd_test.sh NVMMIO WRITER - the nvmmio command end to end: run manages a
# program's files and passes its exit status on; a writer killed with
# SIGKILL leaves a pending log that check reports, recover repairs (the file
# back at its durability point) and a second recover finds nothing to do;
# a log moved under another file's name and a log with a flipped byte of
# record data are reported by check and refused by recover, the file
# untouched; an O_ATOMIC file's log beside it is found; status lists a file
# while a writer holds it, and neither recover nor check touch it then.
set -u
nvmmio=$1 writer=$2
dir=$(mktemp -d /dev/shm/nvmmio-cmd.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
# An ASan build preloads an instrumented library into an instrumented
# program: the runtime then is not first in the list, as it would like.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0
unset NVMMIO_PATH PMEM_PATH NVMMIO_POLICY NVMMIO_SYNC
root=$dir/root
mkdir "$root"
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect STATUS OUTPUT-PATTERN CMD... : runs CMD, checks its status and
# that its output (stdout and stderr) matches the extended regex.
expect() {
    local want=$1 pattern=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    echo "\$ ${*//"$dir"/\$D}"
    echo "$out"
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want"
    [[ $out =~ $pattern ]] || fail "$* printed no line matching '$pattern'"
}

# start_writer FILE POLICY [hold|hold-atomic]: starts the writer under the
# command and waits for it to say it is ready.
start_writer() {
    : >"$dir/out" # an earlier writer's "ready" must not count
    "$nvmmio" run --root "$root" --policy "$2" -- "$writer" "${3:-hold}" "$1" >"$dir/out" &
    pid=$!
    for _ in $(seq 600); do
        grep -q ready "$dir/out" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "the writer did not get ready"
    return 1
}

kill_writer() {
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    pid=
}

# ---- help and exit statuses
for c in run check recover status; do
    expect 0 "exit status" "$nvmmio" "$c" --help
done
expect 3 "unknown command" "$nvmmio" frobnicate
expect 125 "not a usable file name" "$nvmmio" run --stats= -- true
expect 0 "^1$" "$nvmmio" run --root "$root" --stats -- sh -c 'echo "$NVMMIO_STATS"'
expect 0 "^$dir/st$" sh -c "cd '$dir' && '$nvmmio' run --root root --stats=st -- sh -c 'echo \$NVMMIO_STATS'"
expect 125 "hybrid, undo or redo" "$nvmmio" run --policy fast -- true
expect 127 "No such file" "$nvmmio" run -- "$dir/no-such-program"
expect 7 "" "$nvmmio" run --root "$root" -- sh -c 'exit 7'
expect 0 "/libnvmmio\.so\.[0-9]+:libm\.so\.6 $root 1 redo" env LD_PRELOAD=libm.so.6 \
    "$nvmmio" run --root "$root" --sync --policy redo -- \
    sh -c 'echo "$LD_PRELOAD $NVMMIO_PATH $NVMMIO_SYNC $NVMMIO_POLICY"'

# ---- run: the program's files under the root are managed
expect 1 "^not managed" "$writer" probe "$root/p"
expect 0 "^managed" "$nvmmio" run --root "$root" -- "$writer" probe "$root/p"
expect 0 "^managed" env NVMMIO_PATH="$root" "$nvmmio" run -- "$writer" probe "$root/p"
expect 1 "^not managed" "$nvmmio" run --root "$root" -- "$writer" probe "$dir/outside"
expect 0 "no logs" "$nvmmio" check "$root"
expect 3 "without it in LD_PRELOAD" "$nvmmio" run -- "$nvmmio" check "$root"

# ---- a writer holds the file: status names it, recover and check leave it
expected=$dir/expected
head -c $((256 << 10)) /dev/zero | tr '\0' A >"$expected"
start_writer "$root/f" undo
expect 0 "root/f +[0-9]+ +262144 +1 +undo +[0-9]+ held" "$nvmmio" status "$root"
expect 0 "live log" "$nvmmio" check "$root"
expect 1 "left alone" "$nvmmio" recover "$root"

# ---- killed: pending, recovered once, then clean
kill_writer
cp "$root/f" "$dir/before"
expect 1 "recovery pending: [1-9][0-9]* blocks to roll back" "$nvmmio" check "$root"
expect 1 "recovery pending" "$nvmmio" check "$root/f"
cmp -s "$root/f" "$dir/before" || fail "check changed the file"
expect 0 "root/f: recovered: rolled back [1-9][0-9]* blocks, replayed 0, size 262144; log removed" \
    "$nvmmio" recover "$root"
cmp "$root/f" "$expected" || fail "the recovered file is not its last durable state"
expect 0 "no logs" "$nvmmio" recover "$root"
expect 0 "no logs" "$nvmmio" check "$root"
expect 0 "no logs" env NVMMIO_PATH="$root" "$nvmmio" check

# ---- a committed redo epoch not yet home: replayed
rm "$root/f"
cp "$expected" "$dir/redone"
head -c $((64 << 10)) /dev/zero | tr '\0' B |
    dd of="$dir/redone" bs=1k seek=64 conv=notrunc status=none
expect 137 "" "$nvmmio" run --root "$root" --policy redo -- "$writer" commit-kill "$root/f"
cmp -s "$root/f" "$expected" || fail "the redo blocks were home before the recovery"
expect 1 "recovery pending: 0 blocks to roll back, [1-9][0-9]* to replay" "$nvmmio" check "$root"
expect 0 "root/f: recovered: rolled back 0 blocks, replayed [1-9][0-9]*, size 262144; log removed" \
    "$nvmmio" recover "$root"
cmp "$root/f" "$dir/redone" || fail "the replayed file is not its committed state"
expect 0 "no logs" "$nvmmio" recover "$root"

# ---- --stats: one line for the file and a total, at the program's exit
rm "$root/p"
expect 0 "nvmmio-stats file reads=0 read_bytes=0 writes=0 write_bytes=0 .* path=$root/p
nvmmio-stats total files=1 " "$nvmmio" run --root "$root" --stats -- "$writer" probe "$root/p"
expect 0 "" "$nvmmio" run --root "$root" --stats="$dir/stats" -- "$writer" probe "$root/p"
expect 0 "" "$nvmmio" run --root "$root" --stats="$dir/stats" -- "$writer" probe "$root/p"
[ "$(grep -c '^nvmmio-stats total files=1 ' "$dir/stats")" -eq 2 ] ||
    fail "--stats=FILE did not append a total line for each run"

# ---- a log moved under another file's name: foreign, refused
start_writer "$root/h" undo
kill_writer
f_log=$(printf '%x-%x.log' "$(stat -c %d "$root/f")" "$(stat -c %i "$root/f")")
mv "$root"/.nvmmio/*.log "$root/.nvmmio/$f_log"
cp "$root/f" "$dir/before"
expect 2 "root/f: log refused: it belongs to another file" "$nvmmio" check "$root"
expect 2 "root/f: refused: it belongs to another file" "$nvmmio" recover "$root"
cmp "$root/f" "$dir/before" || fail "a refused recovery changed the file"
rm "$root/.nvmmio/$f_log" "$root/h"

# ---- an O_ATOMIC file outside the roots: its log is beside it
mkdir "$dir/atomic"
start_writer "$dir/atomic/f" undo hold-atomic
kill_writer
expect 1 "recovery pending: [1-9][0-9]* blocks to roll back" "$nvmmio" check "$dir/atomic"
expect 1 "recovery pending" "$nvmmio" check "$dir/atomic/f"
expect 0 "atomic/f: recovered: rolled back [1-9][0-9]* blocks" "$nvmmio" recover "$dir/atomic/f"
cmp "$dir/atomic/f" "$expected" || fail "the recovered O_ATOMIC file is not its last durable state"
expect 0 "no logs" "$nvmmio" check "$dir/atomic"

# ---- a corrupt log: reported, refused, the file untouched
start_writer "$root/g" undo
kill_writer
log=$(ls "$root"/.nvmmio/*.log)
# The first record's data: after the 4 KiB superblock and its 64-byte header.
byte=$(od -An -tu1 -j $((4096 + 64 + 100)) -N1 "$log")
printf "$(printf '\\%03o' $((byte ^ 0x55)))" |
    dd of="$log" bs=1 seek=$((4096 + 64 + 100)) conv=notrunc status=none
cp "$root/g" "$dir/before"
expect 2 "log refused: a record's data fails its checksum" "$nvmmio" check "$root"
expect 2 "refused: a record's data fails its checksum" "$nvmmio" recover "$root/g"
cmp "$root/g" "$dir/before" || fail "a refused recovery changed the file"
[ -f "$log" ] || fail "a refused recovery removed the log"
expect 0 "root/g +[0-9]+ +262144 +1 +\\? +[0-9]+ - \\(log fails its checks" "$nvmmio" status "$root"

# ---- a log with no file
rm "$root/g"
expect 2 "no file with device" "$nvmmio" check "$root"

[ "$failures" -eq 0 ] && echo "all passed"
[ "$failures" -eq 0 ]
