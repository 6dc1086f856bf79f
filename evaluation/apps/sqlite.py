#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Mobibench-style SQLite benchmark through the sqlite3 shell, kernel and
library on each medium, in every journal mode.

For each journal mode (DELETE, TRUNCATE, PERSIST, WAL, OFF): a fresh
database with CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT), then
three timed phases, each one sqlite3 process reading a generated script on
stdin, every statement its own transaction (autocommit) with the shell's
default synchronous=FULL: N inserts, N updates, N deletes of 100-byte
payloads. Transactions per second = N / wall time of the process (process
start included: a few milliseconds).

After the updates and after the deletes the database is read by a sqlite3
without the library (PRAGMA integrity_check, row count, payload bytes,
which payloads are the updated ones); a failed check is a problem in the
table and the CSV.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import appbench  # noqa: E402

JOURNALS = ("DELETE", "TRUNCATE", "PERSIST", "WAL", "OFF")
PHASES = ("insert", "update", "delete")

# library / kernel the project wants (issue: real applications); in the
# ext4-DAX guest only the DELETE and WAL modes have one
TARGETS = {"tmpfs": {"WAL": 1.2, "other": 1.0}, "huge": {"WAL": 1.5, "other": 1.2},
           "dax": {"WAL": 1.5, "DELETE": 1.5}}


def payload(i, tag):
    return (f"{tag}{i:010d}" + "abcdefghij" * 10)[:100]


def script(journal, phase, n):
    lines = [f"PRAGMA journal_mode={journal};"]
    if phase == "insert":
        lines += [f"INSERT INTO t(id, payload) VALUES({i}, '{payload(i, 'i')}');" for i in range(n)]
    elif phase == "update":
        lines += [f"UPDATE t SET payload = '{payload(i, 'u')}' WHERE id = {i};" for i in range(n)]
    else:
        lines += [f"DELETE FROM t WHERE id = {i};" for i in range(n)]
    return "\n".join(lines) + "\n"


def shell(db, sql, env):
    return appbench.run_cmd(["sqlite3", "-batch", "-bail", "-init", "/dev/null", db], env, 600, sql)


def check(db, rows, tag):
    """'' when db, read without the library, holds what it should."""
    q = ("PRAGMA integrity_check;\n"
         "SELECT count(*), coalesce(sum(length(payload)), 0), "
         f"coalesce(sum(substr(payload, 1, 1) = '{tag}'), 0) FROM t;\n")
    _, out, err = shell(db, q, appbench.side_env("kernel", "", ""))
    if err:
        return "check failed: " + err[:200]
    want = ["ok", f"{rows}|{rows * 100}|{rows}"]
    if out.split() != want:
        return f"check failed: got {' '.join(out.split())[:120]!r}, want {' '.join(want)!r}"
    return ""


def main():
    a = appbench.parse_args(__doc__, lambda ap: ap.add_argument("--n", type=int, default=0))
    n = a.n or (100 if a.quick else 2000)

    def run(journal, side, work):
        db = os.path.join(work, "bench.db")
        env = appbench.side_env(side, a.lib, work)
        _, _, err = shell(db, f"PRAGMA journal_mode={journal};\n"
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT);\n", env)
        got = {}
        for phase in PHASES:
            row = f"{journal} {phase}"
            if err:
                got[row] = (None, err)
                continue
            dt, _, err = shell(db, script(journal, phase, n), env)
            problem = err
            if not err and phase != "insert":
                problem = check(db, n if phase == "update" else 0, "u")
            got[row] = (None if err else n / dt, problem)
            if err:
                err = f"skipped: {phase} failed"
        return got

    res, order = appbench.measure(a, JOURNALS, run, lambda j: f"sqlite {j}")
    targets = {(m, f"{j} {p}"): TARGETS[m].get(j, TARGETS[m].get("other"))
               for m in TARGETS for j in JOURNALS for p in PHASES}
    return appbench.report(
        a, f"sqlite3 shell, Mobibench-style: N = {n} rows per phase, one transaction per "
        "statement, 100-byte payload, synchronous=FULL", "tx/s", res, order, targets)


if __name__ == "__main__":
    sys.exit(main())
