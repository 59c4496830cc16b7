"""Benchmark: how complete is the bundled ``mp2021`` hull at compositions it was not told about?

For each held-out part of the bundled MP-20 rows (``pilot``, ``biternary``, and a seeded
k-fold split of all compositions; ``genflow.hull.completeness``) the hull is rebuilt without
what those rows contribute, and the held-out compositions' hull energies are compared with
MP's (E_f − e_above_hull of the held-out rows). Printed per part: the fraction of held-out
compositions whose bundled hull lies more than 25 meV/atom (and 100 meV/atom) above MP's,
and more than 25 meV/atom below, ``before`` (snapshot with composition-only MP2020
corrections + MP-20 vertices: the build before derived points) and ``after`` (scale fixes +
derived hull points). Then, pooled over the k folds (each composition held out once), the
same per element and per chemical system, worst first; and the check of the derived points
against the snapshot where both hold a composition (median, p95, max |diff|, count > 25 meV).

Usage::

    python benchmarks/bench_hull_completeness.py [--k 5] [--seed 0] [--top 15] [--min-n 5] [--json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import time

import numpy as np
import pandas as pd

from genflow.hull.completeness import (
    GAP_TOL,
    by_group,
    holdout_parts,
    load_inputs,
    measure,
    point_check,
    summarize,
)


def _pct(x: float) -> str:
    return f"{100 * x:5.2f} %"


def main(argv: list[str] | None = None) -> dict:
    """Run the measurement; print a report (or JSON with ``--json``) and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5, help="k-fold parts (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=15, help="rows per element/system table")
    parser.add_argument("--min-n", type=int, default=5, help="smallest element listed")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    table, rows, mu = load_inputs()
    parts = holdout_parts(rows, k=args.k, seed=args.seed)
    report: dict = {"parts": {}}
    folds = []
    for name, held in parts.items():
        gaps = measure(table, rows, held, mu)
        report["parts"][name] = summarize(gaps)
        if name.startswith("fold"):
            folds.append(gaps)
    pooled = pd.concat(folds, ignore_index=True) if folds else None
    if pooled is not None:
        report["pooled_folds"] = summarize(pooled)
        for by in ("element", "chemsys"):
            groups = by_group(pooled, by)
            if by == "element":
                groups = groups[groups["n"] >= args.min_n]
            top = groups.head(args.top)
            report[f"worst_{by}"] = top.round(4).reset_index().to_dict("records")
    check = point_check(table, rows, mu)
    diff = check["diff"].abs()
    report["point_check"] = {
        "compositions": len(check),
        "median_abs_eV": float(diff.median()),
        "p95_abs_eV": float(diff.quantile(0.95)),
        "max_abs_eV": float(diff.max()),
        "above_25meV": int((check["diff"] > GAP_TOL).sum()),
        "below_25meV": int((check["diff"] < -GAP_TOL).sum()),
    }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(report, indent=1))
        return report
    print("held-out part      comps | >25 meV above  before -> after | >100 meV above"
          "  before -> after | >25 meV below before -> after")  # fmt: skip
    for name, s in report["parts"].items():
        b, a = s["before"], s["after"]
        print(
            f"{name:16s} {s['compositions']:6d} | {_pct(b['above_25meV'])} -> "
            f"{_pct(a['above_25meV'])} | {_pct(b['above_100meV'])} -> {_pct(a['above_100meV'])}"
            f" | {_pct(b['below_25meV'])} -> {_pct(a['below_25meV'])}"
        )
    if pooled is not None:
        for by in ("element", "chemsys"):
            print(f"\nworst {by}s (k-fold pooled; fraction > 25 meV/atom above MP's)")
            print(f"{by:12s}    n  gaps before -> after  max gap before/after (eV/atom)")
            for rec in report[f"worst_{by}"]:
                print(
                    f"{rec['group']:12s} {rec['n']:4d} {rec['gaps_before']:4d} "
                    f"{_pct(rec['above_before'])} -> {rec['gaps_after']:4d} "
                    f"{_pct(rec['above_after'])}  {rec['max_gap_before']:7.3f} / "
                    f"{rec['max_gap_after']:7.3f}"
                )
    pc = report["point_check"]
    print(
        f"\nderived points vs snapshot ({pc['compositions']} compositions): median |diff| "
        f"{1e3 * pc['median_abs_eV']:.4f} meV, p95 {1e3 * pc['p95_abs_eV']:.2f} meV, max "
        f"{1e3 * pc['max_abs_eV']:.0f} meV; > 25 meV: {pc['above_25meV']} snapshot above, "
        f"{pc['below_25meV']} below"
    )
    print(f"({report['seconds']} s)")
    return report


if __name__ == "__main__":
    np.seterr(invalid="ignore")
    main()
