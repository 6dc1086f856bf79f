# SPDX-License-Identifier: BSD-3-Clause
"""Clustered bar charts with a logarithmic y axis, drawn by gnuplot as PNG:
the one chart style of the evaluation's plots (fio/report.py,
apps/appbench.py)."""
import shutil
import subprocess


def series(dat, columns):
    """gnuplot plot clauses for the data file dat: one bar series per
    (column, title, colour), the first naming the x tics."""
    parts = []
    for i, (col, title, colour) in enumerate(columns):
        src = f"'{dat}'" if i == 0 else "''"
        xt = ":xtic(1)" if i == 0 else ""
        parts.append(f"{src} using {col}{xt} title '{title}' lc rgb '{colour}'")
    return parts


def draw(path, title, ylabel, parts, size="1400,700"):
    """Draws the plot clauses parts into the PNG path; says what happened."""
    if not shutil.which("gnuplot"):
        print("  (gnuplot not found: no plot)")
        return
    script = f"""
set terminal pngcairo noenhanced size {size} font ',10'
set output '{path}'
set title '{title.replace("'", "")}'
set datafile missing 'NaN'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y
set ylabel '{ylabel}'
set grid ytics
set key top right
set xtics rotate by 35 right scale 0 font ',9'
set bmargin 9
set rmargin 6
plot {', '.join(parts)}
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print("  gnuplot failed: " + r.stderr.strip()[:400])
    else:
        print(f"  plot: {path}")
