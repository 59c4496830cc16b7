"""Benchmark the gate: duplicate search at campaign scale, and batched CHGNet pre-relax.

1. Dedupe (``bench_dedupe.py``, data from ``dedupe_data.py``): both issue-10 targets,
   ``crowded`` 10^4 new vs 4·10^4 stored (< 30 s) and 10^4 new vs 10^5 stored (< 60 s), with
   wall/CPU time, load, fits, planted duplicates found and a sampled all-pairs
   ``StructureMatcher`` miss check in the same run.
2. Pre-relax: ``--n-relax`` small structures, batched CHGNet (``batch_relax``) against
   atomate2's ``ForceFieldRelaxMaker`` per structure (one maker reused, and one job each).

Usage: ``python benchmarks/bench_gate.py [--quick] [--skip-prerelax] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from bench_dedupe import add_arguments, console, run_dedupe, summary
from dedupe_data import load_base
from pymatgen.core import Structure
from rich.progress import track


def bench_prerelax(base: list[Structure], n: int, model: str = "CHGNet") -> dict:
    """Batched CHGNet relax vs atomate2 ``ForceFieldRelaxMaker`` per structure (same settings).

    Both relax cell and positions (atomate2's default ``relax_cell=True``, FIRE on a
    ``FrechetCellFilter``) to ``fmax`` 0.05 eV/Å in at most 300 steps, on one torch thread.
    Two baselines: one jobflow job per structure with its own maker (a FireWorks worker
    deserialises one per job, so it loads CHGNet each time), and one maker reused.
    """
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from genflow.workflows.gate.prerelax import prerelax_structures
    from genflow.workflows.mlips import resolve_mlip
    from genflow.workflows.relax import MLIPRelaxMaker

    rng = np.random.default_rng(1)
    small = [s for s in base if len(s) <= 8]
    picks = [small[int(i)].copy() for i in rng.choice(len(small), size=n, replace=False)]
    for s in picks:
        s.apply_strain(float(rng.uniform(-0.03, 0.03)))
        s.perturb(0.05, seed=int(rng.integers(2**31)))
    kwargs = {"steps": 300, "relax_cell": True,
              "relax_kwargs": {"fmax": 0.05, "final_atoms_object_file": None}}  # fmt: skip
    mlip = resolve_mlip(model)
    # warm: imports, weights and JIT on one structure, so no side pays for them
    prerelax_structures(picks[:1], model=model, method="batched", **{**kwargs, "steps": 2})
    prerelax_structures(picks[:1], model=model, method="atomate2", **{**kwargs, "steps": 2})
    job_kwargs = {**kwargs, "force_field_name": mlip.force_field,
                  "calculator_kwargs": dict(mlip.calculator_kwargs)}  # fmt: skip

    t0 = time.perf_counter()
    batched = prerelax_structures(picks, model=model, method="batched", **kwargs)
    t_batch = time.perf_counter() - t0

    t0 = time.perf_counter()
    reused = prerelax_structures(picks, model=model, method="atomate2", **kwargs)
    t_reused = time.perf_counter() - t0

    t0 = time.perf_counter()
    for s in track(picks, description="one atomate2 job per structure", console=console):
        job = MLIPRelaxMaker(**job_kwargs).make(s)
        store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
        run_locally(job, store=store, log=False, ensure_success=True)
    t_jobs = time.perf_counter() - t0
    pairs = zip(batched, reused, strict=True)
    diffs = [abs(b.energy_per_atom - r.energy_per_atom) for b, r in pairs]
    n_conv = [sum(bool(x.converged) for x in xs) for xs in (batched, reused)]
    return {
        "model": mlip.label,
        "batched_method": batched[0].method,
        "n_structures": n,
        "atoms": [len(s) for s in picks],
        "batched_seconds": round(t_batch, 2),
        "atomate2_one_maker_seconds": round(t_reused, 2),
        "atomate2_one_job_each_seconds": round(t_jobs, 2),
        "speedup_vs_one_maker": round(t_reused / t_batch, 2),
        "speedup_vs_one_job_each": round(t_jobs / t_batch, 2),
        "max_energy_difference_meV_per_atom": round(1000 * max(diffs), 4),
        "converged_batched_vs_atomate2": n_conv,
    }


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
        report["prerelax"] = bench_prerelax(base, args.n_relax, args.relax_model)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, d in report.items():
        if key != "prerelax":
            print(summary(d))
    if p := report.get("prerelax"):
        print(f"pre-relax [{p['model']}, {p['batched_method']}] {p['n_structures']} structures "
              f"(cell + positions, fmax 0.05): batched "
              f"{p['batched_seconds']} s; atomate2 one maker {p['atomate2_one_maker_seconds']} s "
              f"(x{p['speedup_vs_one_maker']}); one atomate2 job each "
              f"{p['atomate2_one_job_each_seconds']} s (x{p['speedup_vs_one_job_each']}); "
              f"max |ΔE| {p['max_energy_difference_meV_per_atom']} meV/atom")  # fmt: skip


if __name__ == "__main__":
    main()
