# SPDX-License-Identifier: BSD-3-Clause
"""What the application benchmarks share: the kernel and library sides, the
rounds, medians, ratios, targets, the text table, the CSV and the plot.

An application module gives a list of groups (each one run of the program
that yields one or more rows) and a function run(group, side, workdir) that
returns {row: (value, problem)}: value in the row's unit (higher is better),
None when the run failed; problem '' or what went wrong (a failed data
check included). Every group runs on every medium in every round, once per
side; the side that goes first alternates from round to round, so that
drift of the machine falls on both. The table gives medians over the rounds
and the range of the per-round ratios, which shows the noise.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import barchart  # noqa: E402

SIDES = ("kernel", "library")


def parse_args(doc, extra=None):
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--lib", required=True, help="libnvmmio.so")
    ap.add_argument("--medium", action="append", required=True,
                    help="NAME=DIR: a scratch directory on that medium (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--plot")
    if extra:
        extra(ap)
    a = ap.parse_args()
    a.media = [m.split("=", 1) for m in a.medium]
    return a


def side_env(side, lib, root):
    """The environment of a program run on side in root."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "NVMMIO_PATH", "PMEM_PATH", "PMEM_IS_PMEM_FORCE")}
    if side == "library":
        env.update(LD_PRELOAD=lib, NVMMIO_PATH=root, PMEM_IS_PMEM_FORCE="1")
    return env


def fresh_dir(root, name):
    d = os.path.join(root, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run_cmd(argv, env, timeout, stdin=None):
    """(seconds, stdout, problem) of one program run; problem '' when it
    exited with 0 in time."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                           timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, "", f"{os.path.basename(argv[0])}: hung (killed after {timeout} s)"
    dt = time.perf_counter() - t0
    problem = ""
    if r.returncode != 0:
        tail = " ".join(r.stderr.strip().split())[-300:]
        problem = f"{os.path.basename(argv[0])}: exit {r.returncode}: {tail}"
    return dt, r.stdout, problem


def measure(a, groups, run, label):
    """{(medium, row): {side: [values], 'problems': set}} over every round."""
    res = {}
    order = []
    total = len(a.media) * a.rounds * len(groups) * 2
    done = 0
    t0 = time.time()
    for medium, root in a.media:
        for rnd in range(a.rounds):
            sides = SIDES if rnd % 2 == 0 else SIDES[::-1]
            for g in groups:
                for side in sides:
                    work = fresh_dir(root, f"{side}-{label(g)}".replace(" ", "_").replace("=", ""))
                    got = run(g, side, work)
                    if side == "library" and not os.path.isdir(os.path.join(work, ".nvmmio")):
                        got = {r: (v, (p + "; " if p else "") + "the library managed no file")
                               for r, (v, p) in got.items()}
                    shutil.rmtree(work, ignore_errors=True)
                    done += 1
                    for row, (value, problem) in got.items():
                        key = (medium, row)
                        if key not in res:
                            res[key] = {"kernel": [], "library": [], "problems": []}
                            order.append(key)
                        res[key][side].append(value)
                        if problem and f"{side}: {problem}" not in res[key]["problems"]:
                            res[key]["problems"].append(f"{side}: {problem}")
                    bad = [p for _, p in got.values() if p]
                    print(f"  [{done}/{total} {time.time() - t0:5.0f} s] {medium:<5} round {rnd + 1} "
                          f"{label(g):<24} {side:<7} {'ok' if not bad else 'PROBLEM: ' + bad[0][:100]}",
                          file=sys.stderr, flush=True)
    return res, order


def median(vals):
    good = [v for v in vals if v]
    return statistics.median(good) if good else None


def fmt(v, unit):
    if v is None:
        return "fail"
    return f"{v:.0f}" if v >= 100 else f"{v:.2f}"


def ratio_text(r):
    if r is None:
        return "-"
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def report(a, title, unit, res, order, targets):
    """Prints the table, writes the CSV and the plot. targets maps
    (medium, row) to the ratio the project wants, or is missing."""
    head = (f"{'medium':<6} {'workload':<26} {'kernel ' + unit:>14} {'library ' + unit:>15} "
            f"{'lib/kern':>8} {'per round':>11} {'target':>7}  notes")
    print()
    print(title)
    print(head)
    print("-" * len(head))
    rows = []
    for medium, row in order:
        r = res[(medium, row)]
        k, lv = median(r["kernel"]), median(r["library"])
        ratio = lv / k if k and lv else None
        per = [l / kk for kk, l in zip(r["kernel"], r["library"]) if kk and l]
        spread = f"{ratio_text(min(per))[:-1]}-{ratio_text(max(per))[:-1]}" if per else "-"
        tgt = targets.get((medium, row))
        meets = "" if tgt is None or ratio is None else ("met" if ratio >= tgt else "missed")
        notes = "; ".join(r["problems"])
        print(f"{medium:<6} {row:<26} {fmt(k, unit):>14} {fmt(lv, unit):>15} "
              f"{ratio_text(ratio):>8} {spread:>11} "
              f"{(f'{tgt:.1f}x' if tgt else ''):>7}  {meets}{'; ' if meets and notes else ''}{notes}")
        rows.append([medium, row, unit, len(r["kernel"]),
                     f"{k:.1f}" if k else "", f"{lv:.1f}" if lv else "",
                     f"{ratio:.3f}" if ratio else "", spread, f"{tgt}" if tgt else "", meets,
                     " ".join(f"{v:.1f}" if v else "fail" for v in r["kernel"]),
                     " ".join(f"{v:.1f}" if v else "fail" for v in r["library"]),
                     notes or "ok"])
    print(f"  {unit}: medians of {a.rounds} rounds, kernel and library alternating; "
          "per round: the range of the per-round ratios")
    with open(a.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["medium", "workload", "unit", "rounds", "kernel_median", "library_median",
                    "library_over_kernel", "ratio_range", "target", "meets", "kernel_values",
                    "library_values", "status"])
        w.writerows(rows)
    if a.plot:
        plot(a.plot, title, rows, [m for m, _ in a.media])
    return 0 if all(not res[k]["problems"] for k in order) else 1


def plot(path, title, rows, media):
    """Grouped bars of library/kernel per workload, one colour per medium."""
    dat = os.path.splitext(path)[0] + ".dat"
    names = []
    for r in rows:
        if r[1] not in names:
            names.append(r[1])
    ratio = {(r[0], r[1]): r[6] or "NaN" for r in rows}
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# workload " + " ".join(media) + " (library / kernel; NaN: failed)\n")
        for n in names:
            f.write(f'"{n}" ' + " ".join(ratio.get((m, n), "NaN") for m in media) + "\n")
    colours = {"tmpfs": "#4477aa", "huge": "#ee6677", "dax": "#228833"}
    texts = {"tmpfs": "4 KiB-page tmpfs", "huge": "tmpfs huge=always",
             "dax": "ext4-DAX guest (emulated CPU)"}
    parts = barchart.series(dat, [(i + 2, texts.get(m, m), colours.get(m, "#228833"))
                                  for i, m in enumerate(media)])
    parts.append("1 with lines lc rgb '#000000' dt 2 title 'kernel = 1'")
    barchart.draw(path, title, "library / kernel (log scale; above 1: library faster)", parts,
                  size="1200,600")
