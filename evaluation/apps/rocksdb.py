#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""RocksDB's db_bench (Debian's rocksdb-tools), kernel and library on each
medium.

Groups, each a fresh database directory:
  writes, sync=1   one db_bench run of fillseq,fillrandom,overwrite with
                   --sync=1 (every write waits for its WAL fdatasync)
  writes, sync=0   the same with --sync=0 and 20x the keys
  reads            an untimed db_bench fillseq,flush (the same side writes
                   the tables), then a timed run of readrandom,readseq on
                   the existing database with a 1 MiB block cache
All with 16-byte keys, 100-byte values, no compression, a 4 MiB write
buffer (so the reads find tables, not a memtable) and a fixed --seed, so
both sides write the same keys and values. Ops/s as db_bench prints them.

Data check: after each write group the database is dumped with `ldb scan`
run without the library; the dumps of both sides must be equal (same seed,
same operations). A difference or an ldb failure is a problem in the table.
"""
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import appbench  # noqa: E402

TARGETS = {"fillrandom sync=1": 2.0, "readrandom": 1.5}
LINE = re.compile(r"^(\w+)\s*:\s*([0-9.]+) micros/op\s+(\d+) ops/sec", re.M)


def db_bench(db, env, extra, timeout=600):
    argv = ["db_bench", f"--db={db}", "--key_size=16", "--value_size=100", "--compression_type=none",
            "--write_buffer_size=4194304", "--seed=1234", "--threads=1", "--histogram=0",
            "--stats_interval=0"] + extra
    _, out, err = appbench.run_cmd(argv, env, timeout)
    return {m.group(1): float(m.group(3)) for m in LINE.finditer(out)}, err


def dump(db):
    """(entries, digest) of db read by ldb without the library, or a problem."""
    _, out, err = appbench.run_cmd(["ldb", f"--db={db}", "scan", "--hex"],
                                   appbench.side_env("kernel", "", ""), 300)
    if err:
        return None, "ldb scan failed: " + err[:200]
    return (out.count("\n"), hashlib.sha256(out.encode()).hexdigest()), ""


def main():
    a = appbench.parse_args(__doc__, lambda ap: ap.add_argument("--num", type=int, default=0))
    num = a.num or (2000 if a.quick else 5000)
    groups = [("writes, sync=1", 1, num), ("writes, sync=0", 0, num * 20), ("reads", None, num * 20)]
    dumps = {}

    def run(g, side, work):
        name, sync, n = g
        env = appbench.side_env(side, a.lib, work)
        db = os.path.join(work, "db")
        if sync is not None:
            benches = ["fillseq", "fillrandom", "overwrite"]
            got, err = db_bench(db, env, [f"--benchmarks={','.join(benches)}", f"--num={n}",
                                          f"--sync={sync}"])
            problem = err
            if not err:
                d, problem = dump(db)
                other = dumps.pop((name, "library" if side == "kernel" else "kernel"), None)
                if d and other and d != other:
                    problem = (f"data differs from the other side's: {d[0]} against {other[0]} "
                               "ldb lines, or the same count with other bytes")
                elif d and not other:
                    dumps[(name, side)] = d
            return {f"{b} sync={sync}": (got.get(b), problem or ("" if b in got else "no result"))
                    for b in benches}
        benches = ["readrandom", "readseq"]
        _, err = db_bench(db, env, ["--benchmarks=fillseq,flush", f"--num={n}", "--sync=0"])
        got = {}
        if not err:
            got, err = db_bench(db, env, ["--benchmarks=readrandom,readseq", "--use_existing_db=1",
                                          f"--num={n}", f"--reads={n}",
                                          "--cache_size=1048576"])
        return {b: (got.get(b), err or ("" if b in got else "no result")) for b in benches}

    res, order = appbench.measure(a, groups, run, lambda g: f"rocksdb {g[0]}")
    targets = {(m, r): t for m, _ in a.media for r, t in TARGETS.items()}
    return appbench.report(
        a, f"RocksDB db_bench {db_version()}: {num} keys with sync=1, {num * 20} with sync=0 "
        "and for the reads, 100-byte values, 1 MiB block cache", "ops/s", res, order, targets)


def db_version():
    _, out, _ = appbench.run_cmd(["db_bench", "--version"], None, 30)
    return out.strip().split()[-1] if out.strip() else "?"


if __name__ == "__main__":
    sys.exit(main())
