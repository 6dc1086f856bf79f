#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Turns the fio JSON files of evaluation/fio/run.sh into a table (stdout),
a CSV file and a gnuplot bar chart.

RAW holds workloads.txt (id|label|mmap note, one line per workload, in
order) and ID.MODE.json per run (ID.MODE.err when fio complained or failed).
Bandwidth: read+write bytes per second of job runtime, summed over jobs,
in MB/s (10^6 bytes). Latency: completion latency (clat) percentiles 50 and
99 of the direction that moved the most bytes, in microseconds.
"""
import argparse
import csv
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import barchart  # noqa: E402


def load(path):
    """fio's JSON result, or None when the file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    start = text.find("{")  # fio may put a warning line before the JSON
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def figures(doc):
    """(MB/s, p50 us, p99 us) of one fio run, or None when it did no IO."""
    jobs = doc.get("jobs") or []
    if not jobs:
        return None
    bw = 0.0
    for j in jobs:
        for d in ("read", "write"):
            bw += j.get(d, {}).get("bw_bytes", 0)
    j = jobs[0]
    d = max(("read", "write"), key=lambda k: j.get(k, {}).get("io_bytes", 0))
    if j.get(d, {}).get("io_bytes", 0) == 0:
        return None
    pct = j[d].get("clat_ns", {}).get("percentile", {})

    def us(key):
        v = pct.get(key)
        return v / 1000.0 if v is not None else None

    return bw / 1e6, us("50.000000"), us("99.000000")


def fmt_bw(v):
    if v is None:
        return "n/a"
    if v == "fail":
        return "fail"
    return f"{v:.0f}" if v >= 10 else f"{v:.2f}"


def fmt_lat(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def ratio(a, b):
    if isinstance(a, float) and isinstance(b, float) and b > 0:
        return a / b
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--modes", default="kernel,library,mmap")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--plot")
    ap.add_argument("--title", default="fio")
    ap.add_argument("--relative", action="store_true")
    a = ap.parse_args()
    modes = a.modes.split(",")

    rows = []
    with open(os.path.join(a.raw, "workloads.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            wid, label, note = (line.split("|") + ["", ""])[:3]
            row = {"id": wid, "label": label, "note": note, "bw": {}, "p50": {}, "p99": {}, "failed": [],
                   "unmanaged": os.path.exists(os.path.join(a.raw, f"{wid}.library.unmanaged"))}
            for m in ("kernel", "library", "mmap"):
                row["bw"][m] = row["p50"][m] = row["p99"][m] = None
                if m not in modes:
                    continue
                js = os.path.join(a.raw, f"{wid}.{m}.json")
                if m == "mmap" and not os.path.exists(js) and not os.path.exists(
                        os.path.join(a.raw, f"{wid}.{m}.err")):
                    continue  # not run: n/a
                doc = load(js)
                fig = figures(doc) if doc else None
                if fig is None:
                    row["bw"][m] = "fail"
                    row["failed"].append(m)
                    continue
                row["bw"][m], row["p50"][m], row["p99"][m] = fig
            rows.append(row)

    notes = []
    for r in rows:
        if r["note"] and "mmap" in modes and r["note"] not in notes:
            notes.append(r["note"])
    mark = {n: "abcdefgh"[i] for i, n in enumerate(notes)}

    has_mmap = "mmap" in modes
    unit = "MB/s (relative)" if a.relative else "MB/s"
    head = f"{'workload':<30} {'kernel':>8} {'library':>8}"
    if has_mmap:
        head += f" {'mmap':>9}"
    head += f" {'lib/kern':>8}"
    if has_mmap:
        head += f" {'lib/mmap':>8}"
    head += f"  {'kernel p50/p99 us':>18}  {'library p50/p99 us':>18}"
    print()
    print(a.title)
    print(f"bandwidth in {unit}, completion latency of the read/write calls in microseconds")
    print(head)
    print("-" * len(head))
    for r in rows:
        k, l, m = r["bw"]["kernel"], r["bw"]["library"], r["bw"]["mmap"]
        line = f"{r['label']:<30} {fmt_bw(k):>8} {fmt_bw(l):>8}"
        if has_mmap:
            mm = fmt_bw(m) + (f"({mark[r['note']]})" if r["note"] and m is not None else "   ")
            line += f" {mm:>9}"
        rk = ratio(l, k)
        line += f" {(f'{rk:.2f}x' if rk is not None else '-'):>8}"
        if has_mmap:
            rm = ratio(l, m)
            line += f" {(f'{rm:.2f}x' if rm is not None else '-'):>8}"
        kl = f"{fmt_lat(r['p50']['kernel'])}/{fmt_lat(r['p99']['kernel'])}"
        ll = f"{fmt_lat(r['p50']['library'])}/{fmt_lat(r['p99']['library'])}"
        line += f"  {kl:>18}  {ll:>18}"
        print(line)
    for n in notes:
        print(f"  ({mark[n]}) {n}")
    if has_mmap:
        print("  mmap: what fio's mmap engine measures, page faults included; it remaps the whole file whenever an\n"
              "        IO ends at the file's last block, so its random-access figures are a reference, not a bound")
    if has_mmap and any(r["bw"]["mmap"] is None for r in rows):
        print("  n/a: not run with the mmap engine")
    unmanaged = [r["id"] for r in rows if r["unmanaged"]]
    if unmanaged:
        print("  WARNING: the library left no .nvmmio directory in its root (did it manage the files?): "
              + ", ".join(unmanaged))
    failed = [f"{r['id']}/{m}" for r in rows for m in r["failed"]]
    if failed:
        print("  fail: fio failed or did no IO, see its .err file in " + a.raw + ": " + ", ".join(failed))
    if a.relative:
        print("  relative figures only: emulated guest CPU; compare library with kernel, not with other machines")
    summary(rows)

    def num(v):
        return "" if not isinstance(v, float) else f"{v:.3f}"

    with open(a.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["workload_id", "workload", "kernel_MBps", "library_MBps", "mmap_MBps",
                    "library_over_kernel", "library_over_mmap",
                    "kernel_p50_us", "kernel_p99_us", "library_p50_us", "library_p99_us",
                    "mmap_p50_us", "mmap_p99_us", "note", "status"])
        for r in rows:
            b = r["bw"]
            status = ("failed: " + " ".join(r["failed"])) if r["failed"] else "ok"
            if r["unmanaged"]:
                status += "; library root left without .nvmmio"
            note = r["note"] if has_mmap else ""
            if a.relative:
                note = (note + "; " if note else "") + "relative figures only (emulated CPU)"
            w.writerow([r["id"], r["label"], num(b["kernel"]), num(b["library"]), num(b["mmap"]),
                        num(ratio(b["library"], b["kernel"])), num(ratio(b["library"], b["mmap"])),
                        num(r["p50"]["kernel"]), num(r["p99"]["kernel"]),
                        num(r["p50"]["library"]), num(r["p99"]["library"]),
                        num(r["p50"]["mmap"]), num(r["p99"]["mmap"]), note, status])

    if a.plot:
        plot(a, rows, modes)


def summary(rows):
    """Scaling of the 2-job rows over the 1-job overwrite, and the targets."""
    by = {r["id"]: r for r in rows}

    def bw(wid, mode):
        r = by.get(wid)
        v = r["bw"][mode] if r else None
        return v if isinstance(v, float) else None

    one = "overwrite-nofsync-4k"
    twos = [r for r in rows if r["id"].startswith("2jobs-")]
    if twos and bw(one, "library") is not None:
        print("2 jobs over 1 job (4K random overwrite, no fsync):")
        for r in twos:
            parts = []
            for m in ("kernel", "library"):
                v = ratio(bw(r["id"], m), bw(one, m))
                parts.append(f"{m} {v:.2f}x" if v is not None else f"{m} -")
            print(f"  {r['label']:<32} " + ", ".join(parts))

    # id, what, measured value, target
    checks = []
    for wid in ("seqread-4k", "randread-4k"):
        checks.append((wid, "library/kernel", ratio(bw(wid, "library"), bw(wid, "kernel")), 3.0))
        checks.append((wid, "library/mmap", ratio(bw(wid, "library"), bw(wid, "mmap")), 0.85))
    checks.append(("append-4k", "library/kernel", ratio(bw("append-4k", "library"), bw("append-4k", "kernel")), 1.8))
    checks.append(("overwrite-fsync32-4k", "library/kernel",
                   ratio(bw("overwrite-fsync32-4k", "library"), bw("overwrite-fsync32-4k", "kernel")), 1.5))
    checks.append(("overwrite-sync-4k", "library/kernel",
                   ratio(bw("overwrite-sync-4k", "library"), bw("overwrite-sync-4k", "kernel")), 1.2))
    checks.append(("2jobs-disjoint-4k", "library, 2 jobs/1 job",
                   ratio(bw("2jobs-disjoint-4k", "library"), bw(one, "library")), 1.8))
    checks = [c for c in checks if c[2] is not None]
    if checks:
        print("targets:")
        for wid, what, v, want in checks:
            print(f"  {wid:<22} {what:<22} {v:5.2f}  (target {want:.2f}: {'met' if v >= want else 'missed'})")


def plot(a, rows, modes):
    dat = os.path.splitext(a.plot)[0] + ".dat"
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# workload kernel library mmap (MB/s; NaN: n/a or failed)\n")
        for r in rows:
            vals = []
            for m in ("kernel", "library", "mmap"):
                v = r["bw"][m]
                vals.append(f"{v:.3f}" if isinstance(v, float) and v > 0 else "NaN")
            label = r["label"].replace('"', "'")
            f.write(f'"{label}" {" ".join(vals)}\n')
    series = [("kernel", 2, "#4477aa", "kernel (psync)"),
              ("library", 3, "#ee6677", "libnvmmio (psync, LD_PRELOAD)"),
              ("mmap", 4, "#228833", "mmap engine")]
    parts = barchart.series(dat, [(col, title, colour)
                                  for m, col, colour, title in series if m in modes])
    ylabel = "MB/s (log scale" + (", relative figures only)" if a.relative else ")")
    barchart.draw(a.plot, a.title, ylabel, parts)


if __name__ == "__main__":
    sys.exit(main())
