#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Start-up cost of libnvmmio: max RSS and wall time of trivial programs with
and without LD_PRELOAD of the library (NVMMIO_PATH set in both cases).

Every command is started through env(1), in both cases, so that only the
preloaded library differs:  env [LD_PRELOAD=LIB] NVMMIO_PATH=ROOT PROGRAM...
Wall time: hyperfine -N (no shell) when it is installed, in rounds of about
20 runs that alternate which command goes first, times pooled; otherwise a
python loop of subprocess.run timed with time.perf_counter, alternating the
commands run by run. Interleaving matters on a shared machine: load that
comes and goes would otherwise land on one side only.
The median is the headline figure; the difference of the minima is printed
too (the least disturbed runs: closest to the intrinsic cost when the
machine is busy); mean and standard deviation are in the CSV. Max RSS: /usr/bin/time -f %M, median of
--rss-runs runs. Nothing is asserted.
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

NOTES = set()


def command(prog, lib, root):
    c = ["env"]
    if lib:
        c.append(f"LD_PRELOAD={lib}")
    c += [f"NVMMIO_PATH={root}", "PMEM_IS_PMEM_FORCE=1"] + prog
    return c


def clean_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "NVMMIO_PATH", "PMEM_PATH", "PMEM_IS_PMEM_FORCE")}


def summary(ts):
    """(median, mean, standard deviation, minimum) of run times in ms."""
    return (statistics.median(ts), statistics.mean(ts), statistics.stdev(ts) if len(ts) > 1 else 0.0, min(ts))


def rounds_of(runs):
    """Splits runs into rounds (about 20 runs each, at least 2 rounds)."""
    k = max(2, min(runs // 2, round(runs / 20)))
    return [runs // k + (1 if i < runs % k else 0) for i in range(k)]


def wall_hyperfine(cmds, runs, warmup):
    """summary() per command, measured by hyperfine in
    rounds that alternate the order of the commands, pooled: load that
    comes and goes on a shared machine then hits both alike."""
    times = [[] for _ in cmds]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        for i, n in enumerate(rounds_of(runs)):
            order = list(range(len(cmds)))
            if i % 2:
                order.reverse()
            args = ["hyperfine", "-N", "--style", "none", "--runs", str(n), "--warmup", str(warmup),
                    "--export-json", path] + [" ".join(cmds[j]) for j in order]
            r = subprocess.run(args, env=clean_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                raise RuntimeError("hyperfine failed: " + r.stderr.strip()[-400:])
            if "outliers" in r.stderr:
                NOTES.add("hyperfine saw statistical outliers (other load on the machine)")
            with open(path, encoding="utf-8") as f:
                res = json.load(f)["results"]
            for j, rj in zip(order, res):
                times[j] += [t * 1e3 for t in rj["times"]]
    finally:
        os.unlink(path)
    return [summary(t) for t in times]


def wall_python(cmds, runs, warmup):
    """The same without hyperfine: the commands alternate run by run."""
    env = clean_env()
    times = [[] for _ in cmds]
    for _ in range(warmup):
        for c in cmds:
            subprocess.run(c, env=env, check=True)
    for i in range(runs):
        order = list(range(len(cmds)))
        if i % 2:
            order.reverse()
        for j in order:
            t0 = time.perf_counter()
            subprocess.run(cmds[j], env=env, check=True)
            times[j].append((time.perf_counter() - t0) * 1e3)
    return [summary(t) for t in times]


def max_rss(cmd, runs):
    vals = []
    for _ in range(runs):
        r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=clean_env(),
                           capture_output=True, text=True, check=True)
        vals.append(int(r.stderr.strip().splitlines()[-1]))
    return statistics.median(vals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--root", required=True, help="NVMMIO_PATH in both cases")
    ap.add_argument("--openread", required=True)
    ap.add_argument("--plain-file", required=True)
    ap.add_argument("--managed-file", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rss-runs", type=int, default=20)
    ap.add_argument("--csv", required=True)
    a = ap.parse_args()

    programs = [
        ("/bin/true", ["/bin/true"]),
        ("open/read/close, plain file", [a.openread, a.plain_file]),
        ("open/read/close, managed file (extra)", [a.openread, a.managed_file]),
    ]
    tool = "hyperfine" if shutil.which("hyperfine") else "python loop"
    warmup = max(1, min(5, a.runs // 10))
    how = (f"hyperfine -N in {len(rounds_of(a.runs))} rounds of alternating order, {warmup} warm-up runs each"
           if tool == "hyperfine" else f"python loop, runs alternating, {warmup} warm-up runs")
    print(f"wall time: {a.runs} runs per command ({how}), median "
          f"(mean ± sd in the CSV); max RSS: /usr/bin/time -f %M, median of {a.rss_runs} runs")
    print("every command runs as: env [LD_PRELOAD=libnvmmio.so] NVMMIO_PATH=<tmpfs dir> PMEM_IS_PMEM_FORCE=1 PROGRAM")
    head = (f"{'program':<40} {'RSS KB':>8} {'RSS KB':>8} {'diff':>7}   {'ms':>7} {'ms':>7} {'diff':>7}"
            f" {'diff ms':>8}")
    print(f"{'':<40} {'without':>8} {'with':>8} {'KB':>7}   {'without':>7} {'with':>7} {'ms':>7}"
          f" {'mins':>8}")
    print(head)
    print("-" * len(head))
    rows = []
    for name, prog in programs:
        without, with_ = command(prog, None, a.root), command(prog, a.lib, a.root)
        measure = wall_hyperfine if tool == "hyperfine" else wall_python
        (mw, aw, sw, nw), (ml, al, sl, nl) = measure([without, with_], a.runs, warmup)
        rw, rl = max_rss(without, a.rss_runs), max_rss(with_, a.rss_runs)
        print(f"{name:<40} {rw:>8.0f} {rl:>8.0f} {rl - rw:>+7.0f}   {mw:>7.3f} {ml:>7.3f} {ml - mw:>+7.3f} {nl - nw:>+8.3f}")
        rows.append([name, a.runs, tool, f"{rw:.0f}", f"{rl:.0f}", f"{rl - rw:.0f}",
                     f"{mw:.4f}", f"{ml:.4f}", f"{ml - mw:.4f}",
                     f"{aw:.4f}", f"{sw:.4f}", f"{al:.4f}", f"{sl:.4f}",
                     f"{nw:.4f}", f"{nl:.4f}", f"{nl - nw:.4f}"])
    for n in sorted(NOTES):
        print(f"  note: {n}")
    with open(a.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["program", "runs", "timer", "rss_kb_without", "rss_kb_with", "rss_diff_kb",
                    "wall_ms_median_without", "wall_ms_median_with", "wall_diff_ms_median",
                    "wall_ms_mean_without", "wall_ms_sd_without", "wall_ms_mean_with", "wall_ms_sd_with",
                    "wall_ms_min_without", "wall_ms_min_with", "wall_diff_ms_min"])
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
