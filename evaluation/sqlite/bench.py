#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Mobibench-style SQLite benchmark, driven through the sqlite3 shell.

For each journal mode (DELETE, WAL, OFF), once on a plain directory (kernel)
and once under libnvmmio (LD_PRELOAD, NVMMIO_PATH = the directory, forced
pmem): a fresh database with
    CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT)   -- 100-byte payload
then three timed phases, each one sqlite3 process reading a generated SQL
script on stdin, every statement its own transaction (autocommit), as
Mobibench does: N inserts, N updates, N deletes. Transactions per second =
N / wall time of the process (time.perf_counter around subprocess.run;
the few milliseconds of process start are included).

After the updates and after the deletes the database is checked with a
sqlite3 that runs without the library (row count, payload bytes,
PRAGMA integrity_check); a failed check is reported in the table and the
CSV, never hidden. The sqlite3 settings are the shell's defaults
(synchronous=FULL); no timing is asserted.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

JOURNALS = ("DELETE", "WAL", "OFF")
PHASES = ("insert", "update", "delete")


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


def sqlite(db, sql, env):
    """Runs the sqlite3 shell on db with sql on stdin; returns (seconds, stdout, error)."""
    t0 = time.perf_counter()
    r = subprocess.run(["sqlite3", "-batch", "-bail", "-init", "/dev/null", db],
                       input=sql, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    err = r.stderr.strip()
    if r.returncode != 0:
        err = f"exit {r.returncode}: {err}"
    return dt, r.stdout, err


def check(db, rows, tag):
    """Reads db without the library: '' when it holds what it should."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "NVMMIO_PATH")}
    q = ("PRAGMA integrity_check;\n"
         "SELECT count(*), coalesce(sum(length(payload)), 0), "
         f"coalesce(sum(substr(payload, 1, 1) = '{tag}'), 0) FROM t;\n")
    _, out, err = sqlite(db, q, env)
    if err:
        return "check failed: " + err[:200]
    lines = out.split()
    want = ["ok", f"{rows}|{rows * 100}|{rows}"]
    if lines != want:
        return f"check failed: got {' '.join(lines)[:120]!r}, want {' '.join(want)!r}"
    return ""


def run_mode(root, mode, lib, n):
    """{(journal, phase): (seconds or None, problem)} for one mode."""
    res = {}
    for journal in JOURNALS:
        d = os.path.join(root, f"{mode}-{journal.lower()}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        db = os.path.join(d, "bench.db")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if mode == "library":
            env.update(LD_PRELOAD=lib, NVMMIO_PATH=d, PMEM_IS_PMEM_FORCE="1")
        _, _, err = sqlite(db, f"PRAGMA journal_mode={journal};\n"
                           "CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT);\n", env)
        for phase in PHASES:
            if err:  # an earlier step failed: the rest is meaningless
                res[(journal, phase)] = (None, err)
                continue
            dt, _, err = sqlite(db, script(journal, phase, n), env)
            problem = err
            if not err and phase in ("update", "delete"):
                problem = check(db, n if phase == "update" else 0, "u")
            res[(journal, phase)] = (None if err else dt, problem)
            if err:
                err = f"skipped: {phase} failed"
        if mode == "library" and not os.path.isdir(os.path.join(d, ".nvmmio")):
            for phase in PHASES:
                t, p = res[(journal, phase)]
                res[(journal, phase)] = (t, (p + "; " if p else "") + "library left no .nvmmio (unmanaged?)")
        shutil.rmtree(d, ignore_errors=True)
        print(f"  {mode:<8} {journal:<7} done", file=sys.stderr, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--dir", required=True, help="scratch directory (tmpfs)")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--csv", required=True)
    a = ap.parse_args()

    res = {m: run_mode(a.dir, m, a.lib, a.n) for m in ("kernel", "library")}

    print()
    print(f"sqlite3 shell, Mobibench-style: N = {a.n} rows, one transaction per statement, "
          "100-byte payload, synchronous=FULL (default)")
    head = f"{'journal':<8} {'phase':<7} {'kernel tx/s':>12} {'library tx/s':>13} {'lib/kern':>9}  notes"
    print(head)
    print("-" * len(head))
    rows = []
    for journal in JOURNALS:
        for phase in PHASES:
            kt, kp = res["kernel"][(journal, phase)]
            lt, lp = res["library"][(journal, phase)]
            k = a.n / kt if kt else None
            lv = a.n / lt if lt else None
            r = lv / k if k and lv else None
            notes = "; ".join(x for x in (f"kernel: {kp}" if kp else "", f"library: {lp}" if lp else "") if x)
            print(f"{journal:<8} {phase:<7} {(f'{k:.0f}' if k else 'fail'):>12} "
                  f"{(f'{lv:.0f}' if lv else 'fail'):>13} {(f'{r:.2f}x' if r else '-'):>9}  {notes}")
            rows.append([journal, phase, a.n,
                         f"{k:.1f}" if k else "", f"{lv:.1f}" if lv else "", f"{r:.3f}" if r else "",
                         f"{kt:.4f}" if kt else "", f"{lt:.4f}" if lt else "", notes or "ok"])
    with open(a.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["journal_mode", "phase", "n", "kernel_tx_per_s", "library_tx_per_s",
                    "library_over_kernel", "kernel_seconds", "library_seconds", "status"])
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
