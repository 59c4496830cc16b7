"""Benchmark the gate: duplicate search at campaign scale, and batched CHGNet pre-relax.

1. Dedupe (``bench_dedupe.py``, data from ``dedupe_data.py``): both issue-10 targets,
   ``crowded`` 10^4 new vs 4·10^4 stored (< 30 s) and 10^4 new vs 10^5 stored (< 60 s), with
   wall/CPU time, load, fits, planted duplicates found and a sampled all-pairs
   ``StructureMatcher`` miss check in the same run.
2. Pre-relax: ``--n-relax`` small structures, batched CHGNet (``ts_relax``, torch-sim) against
   atomate2's ``ForceFieldRelaxMaker`` per structure (one maker reused, and one job each).

Usage: ``python benchmarks/bench_gate.py [--quick] [--skip-prerelax] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench_dedupe import add_arguments, console, run_dedupe, summary
from bench_prerelax import bench_model, pick_structures
from dedupe_data import load_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--n-relax", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="10x smaller dedupe, 8 relaxes")
    parser.add_argument("--skip-prerelax", action="store_true")
    parser.add_argument("--skip-dedupe", action="store_true")
    parser.add_argument("--relax-model", default="CHGNet", help="MLIP registry key")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_new, args.n_stored, args.n_stored_big, args.n_naive = 1000, 4000, 10_000, 30
        args.n_relax, args.check_every_row = 8, True

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base = load_base(args.base_limit)
    console.print(f"loaded {len(base)} real structures in {time.perf_counter() - t0:.0f} s")
    report = {} if args.skip_dedupe else run_dedupe(args, base)
    if not args.skip_prerelax:
        # the pre-relax benchmark itself lives in bench_prerelax.py; run it here with its jobs
        report["prerelax"] = bench_model(pick_structures(args.n_relax), args.relax_model,
                                         steps=300, jobs=True)  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, d in report.items():
        if key != "prerelax":
            print(summary(d))
    if p := report.get("prerelax"):
        print(f"pre-relax [{p['model']}, {p['batched_method']}] {p['n_structures']} structures "
              f"(cell + positions, fmax 0.05): batched "
              f"{p['batched_seconds']} s; atomate2 model loaded once "
              f"{p['atomate2_model_loaded_once_seconds']} s "
              f"(x{p['speedup_vs_model_loaded_once']}); "
              f"one atomate2 job each {p['atomate2_job_each_seconds']} s "
              f"(x{p['speedup_vs_job_each']}); "
              f"max |ΔE| {p['max_energy_difference_meV_per_atom']} meV/atom")  # fmt: skip


if __name__ == "__main__":
    main()
