#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Redis (Debian's redis-server) with its append-only file on the medium,
kernel and library; redis-benchmark SET and GET on loopback.

For each of appendfsync always and everysec: redis-server with
appendonly yes, no RDB snapshots, its data directory in a fresh directory on
the medium; for the library side the server runs under LD_PRELOAD (the
benchmark client never does). redis-benchmark, 50 clients, 100-byte
values, keys drawn from 100,000: N SETs, then N GETs. Requests/s as
redis-benchmark prints them (--csv).

Data check: after the GETs the server is asked for DBSIZE and DEBUG DIGEST
and shut down (the append-only file synced); then a server without the
library loads the same directory and must answer the same DBSIZE and
digest. A difference, a server that does not start or stop, or a hang is a
problem in the table.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import appbench  # noqa: E402

TARGETS = {"SET always": 1.3}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args, timeout=60):
    _, out, err = appbench.run_cmd(["redis-cli", "-p", str(port), *args],
                                   appbench.side_env("kernel", "", ""), timeout)
    return out.strip(), err


class Server:
    """A redis-server on a fresh port with its data in work."""

    def __init__(self, work, fsync, env):
        self.port = free_port()
        self.log = os.path.join(work, "server.log")
        data = os.path.join(work, "data")
        os.makedirs(data, exist_ok=True)
        self.p = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", data,
             "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no",
             "--enable-debug-command", "local", "--logfile", self.log],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.problem = ""
        for _ in range(200):
            if self.p.poll() is not None:
                self.problem = f"redis-server exited with {self.p.returncode} at start: {self.log_tail()}"
                return
            out, _ = cli(self.port, "ping", timeout=5)
            if out == "PONG":
                return
            time.sleep(0.05)
        self.problem = "redis-server did not answer within 10 s"

    def log_tail(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-3:])[-300:]
        except OSError:
            return "(no log)"

    def state(self):
        size, e1 = cli(self.port, "dbsize")
        digest, e2 = cli(self.port, "debug", "digest")
        return (size, digest), e1 or e2

    def stop(self):
        """'' when the server shut down cleanly."""
        if self.p.poll() is None:
            cli(self.port, "shutdown", timeout=60)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return "redis-server did not stop within 60 s of SHUTDOWN (killed)"
        return "" if self.p.returncode == 0 else \
            f"redis-server exited with {self.p.returncode}: {self.log_tail()}"


def bench(port, test, n):
    _, out, err = appbench.run_cmd(
        ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(n), "-c", "50", "-d", "100",
         "-r", "100000", "--csv"], appbench.side_env("kernel", "", ""), 600)
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if len(f) > 1 and f[0] == test.upper():
            return float(f[1]), err
    return None, err or f"no {test.upper()} line in redis-benchmark's output"


def main():
    a = appbench.parse_args(__doc__, lambda ap: ap.add_argument("--n", type=int, default=0))
    n = a.n or (2000 if a.quick else 20000)
    groups = [("always", n), ("everysec", n * 5)]

    def run(g, side, work):
        fsync, count = g
        rows = (f"SET {fsync}", f"GET {fsync}")
        srv = Server(work, fsync, appbench.side_env(side, a.lib, work))
        if srv.problem:
            srv.stop()
            return {r: (None, srv.problem) for r in rows}
        got = {}
        for r in rows:
            got[r] = bench(srv.port, r.split()[0].lower(), count)
        before, problem = srv.state()
        problem = srv.stop() or problem
        if not problem:
            again = Server(work, fsync, appbench.side_env("kernel", "", ""))
            after, p2 = again.state() if not again.problem else (None, again.problem)
            problem = again.stop() or p2
            if not problem and after != before:
                problem = (f"data lost: the server had dbsize {before[0]}, digest {before[1][:12]}; "
                           f"reloaded without the library: {after[0]}, {after[1][:12]}")
        return {r: (v, (e + "; " if e else "") + problem if e or problem else "")
                for r, (v, e) in got.items()}

    res, order = appbench.measure(a, groups, run, lambda g: f"redis {g[0]}")
    targets = {(m, r): t for m, _ in a.media for r, t in TARGETS.items()}
    return appbench.report(
        a, f"Redis {server_version()}: redis-benchmark on loopback, 50 clients, 100-byte values, "
        f"{n} requests with appendfsync always, {n * 5} with everysec", "req/s", res, order, targets)


def server_version():
    _, out, _ = appbench.run_cmd(["redis-server", "--version"], None, 30)
    return next((w[2:] for w in out.split() if w.startswith("v=")), "?")


if __name__ == "__main__":
    sys.exit(main())
