#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sqlite_kill.sh LIB MODE [KILLS] - sqlite3 under the library inserts rows
# one transaction each (journal mode MODE, synchronous=FULL) and is killed
# with SIGKILL at a random moment, KILLS times. After each kill the next
# sqlite3 under the library (which recovers the files first) must find
# PRAGMA integrity_check ok and no fewer rows than the one before it
# found: those were durable. After every third kill a sqlite3 without the
# library looks first (and rolls a hot journal back itself) and must find
# the database whole with at least those rows; it may find more, a
# transaction whose commit was written but not yet synced when the writer
# died, which the library's recovery then rolls back (before recovery a
# program without the library sees the kernel's view, DESIGN.md section 2). The journal
# of TRUNCATE and PERSIST is closed and opened again twice a transaction,
# so the kills land while it lingers too (src/core/nvfile.h). Exit 1 on a
# failed check, 77 when sqlite3 is missing.
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 LIB MODE [KILLS]" >&2
    exit 2
fi
lib=$1 mode=$2 kills=${3:-20}
command -v sqlite3 >/dev/null || {
    echo "SKIP: sqlite3 is not installed (see scripts/deps.sh)"
    exit 77
}
dir=$(mktemp -d /dev/shm/nvmmio-sqlkill.XXXXXX) || exit 2
trap 'rm -rf -- "$dir"' EXIT
# An ASan build of the library needs its runtime loaded first.
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
preload=$lib
[ -z "$asan" ] || preload="$asan:$lib"
lib_env=(LD_PRELOAD="$preload" NVMMIO_PATH="$dir" PMEM_IS_PMEM_FORCE=1 ASAN_OPTIONS=detect_leaks=0)
db=$dir/db.sqlite

env "${lib_env[@]}" sqlite3 "$db" \
    "PRAGMA journal_mode=$mode; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);" >/dev/null || exit 2
{
    printf 'PRAGMA journal_mode=%s;\nPRAGMA synchronous=FULL;\n' "$mode"
    for i in $(seq 100000); do echo "INSERT INTO t(b) VALUES('row $i');"; done
} >"$dir/inserts.sql"

# check WHO ENV...: "ok COUNT" as sqlite3 sees the database. What the
# library says on stderr goes to $dir/said: a sqlite3 without the library
# that rolled a hot journal back changed the database behind the log, which
# the library then keeps aside and says so (DESIGN.md section 2).
check() {
    env "${@:2}" sqlite3 "$db" "PRAGMA integrity_check; SELECT count(*) FROM t;" \
        2>>"$dir/said" | tr '\n' ' '
}

fail=0 rows=0 seed=$$
for k in $(seq "$kills"); do
    env "${lib_env[@]}" sqlite3 "$db" <"$dir/inserts.sql" >/dev/null 2>&1 &
    writer=$!
    seed=$(((seed * 1103515245 + 12345) % 2147483648))
    sleep "0.$(printf '%03d' $((20 + seed % 300)))"
    kill -KILL "$writer"
    wait "$writer" 2>/dev/null
    for who in plain library; do
        [ "$who" = plain ] && [ $((k % 3)) -ne 0 ] && continue
        if [ "$who" = plain ]; then seen=$(check plain); else seen=$(check library "${lib_env[@]}"); fi
        read -r verdict count _ <<<"$seen"
        if [ "$verdict" != ok ] || ! [[ $count =~ ^[0-9]+$ ]] || [ "$count" -lt "$rows" ]; then
            echo "FAIL: kill $k, $who: '$seen' (durable rows before: $rows)"
            fail=1
        elif [ "$who" = library ]; then
            rows=$count
        fi
    done
done
aside=$(find "$dir/.nvmmio" -name '*.aside-*' 2>/dev/null | wc -l)
echo "sqlite $mode: $kills kills, $rows rows at the end, $aside logs kept aside" \
    "(each where a sqlite3 without the library rolled a hot journal back first)"
[ ! -s "$dir/said" ] || sed 's/^/  said: /' "$dir/said" | head -5
exit $fail
