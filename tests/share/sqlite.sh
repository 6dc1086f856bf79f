#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sqlite.sh LIB|none MODE MIX [TXNS] - three sqlite3 processes insert into and
# update one database at once, in journal mode MODE (delete, truncate,
# persist, wal), with PRAGMA synchronous=FULL, a busy timeout and
# transactions of a few statements each (BEGIN IMMEDIATE: three inserts,
# an update of one of the process's own earlier rows, an update of a
# counter all share). MIX "lib": all three under LIB; "mixed": the third
# without it; "plain": all three without it (with LIB none: the test's
# self-check). TXNS (default 400) transactions per process.
#
# The final contents do not depend on how the transactions interleave, so
# they are compared with the same scripts run one after the other on a
# plain database: PRAGMA integrity_check must be ok, and the rows (count
# and sha256 of every row, the differing rows printed) and the counter
# must be equal, read through the kernel and again through the library.
# Exit 1 on a difference, 77 when sqlite3 is missing.
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 LIB MODE MIX [TXNS]" >&2
    exit 2
fi
lib=$1 mode=$2 mix=$3 txns=${4:-400}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

command -v sqlite3 >/dev/null || {
    echo "SKIP: sqlite3 is not installed (see scripts/deps.sh)"
    exit 77
}
case $mix in
lib) roles="lib lib lib" ;;
mixed) roles="lib lib plain" ;;
plain) roles="plain plain plain" ;;
*)
    echo "$0: MIX is lib, mixed or plain" >&2
    exit 2
    ;;
esac

share_fresh_dir sql
lib_env=()
[ "$lib" = none ] || share_lib_env "$lib" "$T/root"
mkdir "$T/root" "$T/ref" || exit 2
db=$T/root/db.sqlite
ref=$T/ref/db.sqlite

# worker_sql W: the script of process W.
worker_sql() {
    local w=$1 t i k
    echo ".timeout 10000"
    echo ".bail on"
    echo "PRAGMA journal_mode=$mode;"
    echo "PRAGMA synchronous=FULL;"
    for ((t = 0; t < txns; t++)); do
        i=$((3 * t))
        echo "BEGIN IMMEDIATE;"
        for k in 0 1 2; do
            echo "INSERT INTO t VALUES($w, $((i + k)), 0," \
                "printf('%d:%d:', $w, $((i + k))) || replace(hex(zeroblob($(((i + k) * 37 % 150 + 10)))), '0', char(96 + $w)));"
        done
        echo "UPDATE t SET v = v + 1 WHERE w = $w AND i = $((i * 7 % (i + 1)));"
        echo "UPDATE c SET n = n + 1;"
        echo "COMMIT;"
    done
}

schema="PRAGMA journal_mode=$mode;
CREATE TABLE t(w INTEGER, i INTEGER, v INTEGER, p TEXT, PRIMARY KEY(w, i));
CREATE INDEX tp ON t(p);
CREATE TABLE c(n INTEGER);
INSERT INTO c VALUES(0);"

for w in 1 2 3; do
    worker_sql $w >"$T/w$w.sql"
done

# The reference, plainly, one process after the other.
sqlite3 "$ref" "$schema" >/dev/null || exit 2
for w in 1 2 3; do
    sqlite3 "$ref" <"$T/w$w.sql" >/dev/null || {
        echo "the reference run of process $w failed"
        exit 2
    }
done

# The database made under the library, then the processes at once.
env "${lib_env[@]}" sqlite3 "$db" "$schema" >/dev/null || {
    echo "FAIL: creating the database under the library failed"
    exit 1
}
pids=()
w=0
for role in $roles; do
    w=$((w + 1))
    if [ "$role" = lib ]; then
        (exec timeout -k 5 120 env "${lib_env[@]}" sqlite3 "$db" <"$T/w$w.sql" >"$T/w$w.out" 2>"$T/w$w.err") &
    else
        (exec timeout -k 5 120 sqlite3 "$db" <"$T/w$w.sql" >"$T/w$w.out" 2>"$T/w$w.err") &
    fi
    pids+=($!)
done
fail=0
w=0
for role in $roles; do
    w=$((w + 1))
    wait "${pids[$((w - 1))]}"
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$T/w$w.err" ]; then
        echo "FAIL: process $w ($role) exited $rc$([ $rc -eq 124 ] && echo ' (timed out)'):"
        head -n 5 "$T/w$w.err"
        fail=1
    fi
done

# check SIDE ENV...: integrity, rows and counter of the database read by a
# fresh sqlite3 with the given environment, against the reference.
query="PRAGMA integrity_check; SELECT 'rows', count(*) FROM t; SELECT 'counter', n FROM c;"
rows="SELECT w, i, v, p FROM t ORDER BY w, i;"
sqlite3 "$ref" "$query" >"$T/ref.sum"
sqlite3 "$ref" "$rows" >"$T/ref.rows"
check() {
    local side=$1
    shift
    env "$@" sqlite3 "$db" "$query" >"$T/$side.sum" 2>&1
    env "$@" sqlite3 "$db" "$rows" >"$T/$side.rows" 2>&1
    if ! cmp -s "$T/ref.sum" "$T/$side.sum"; then
        echo "FAIL: integrity, row count or counter read $side differ (-expected +found):"
        diff "$T/ref.sum" "$T/$side.sum" | grep '^[<>]' | head -n 20
        fail=1
    fi
    if ! cmp -s "$T/ref.rows" "$T/$side.rows"; then
        echo "FAIL: rows read $side differ: expected sha256 $(sha256sum <"$T/ref.rows" | cut -c1-16)," \
            "found $(sha256sum <"$T/$side.rows" | cut -c1-16); first differing rows (-expected +found):"
        diff "$T/ref.rows" "$T/$side.rows" | grep '^[<>]' | cut -c1-60 | head -n 10
        fail=1
    fi
}
check "through the kernel"
[ "$lib" = none ] || check "through the library" "${lib_env[@]}"

summary="$(tr '\n' ' ' <"$T/ref.sum")"
if [ $fail -ne 0 ]; then
    echo "sqlite $mode $mix ($roles): FAILED (expected: $summary)"
    exit 1
fi
echo "sqlite $mode $mix ($roles): ok: $summary"
