"""Benchmark the gate's batched MLIP pre-relax against one atomate2 job per structure.

For every model named (default: the offline ones, CHGNet and SevenNet 7net-l3i5), the same
``--n`` (24) small MP-20/Perov-5 crystals (≤ 8 atoms, 3 % strain, 0.05 Å rattle) are relaxed
three ways, cell and positions, ``fmax`` 0.05 eV/Å, at most ``--steps`` (300) FIRE steps, one
torch thread:

1. **batched** — ``prerelax_structures(method="batched")``: the gate's path, all structures
   in one torch-sim ``frechet_cell_fire`` run (ASE's FIRE on a ``FrechetCellFilter``,
   vectorised), one model call per step for every unconverged structure;
2. **atomate2, one job per structure** — what a user gets from atomate2: a
   ``ForceFieldRelaxMaker`` job per structure run by jobflow's ``run_locally``. jobflow
   deep-copies the maker into every job, so atomate2 loads the model once per job;
3. **atomate2, model loaded once** — the same ASE relax per structure through one calculator
   kept for the whole process (genflow's ``MLIPRelaxMaker``): the baseline without model
   loads, the stricter one.

Energies (raw model energies, eV/atom) of (1) are compared with (3) on every structure and
the largest difference printed (the goal: ≤ 1 meV/atom). Warm-up (imports, weights) is done
before any timing, so no side pays for it once; (2) pays its per-job loads, which is the point.

Usage: ``python benchmarks/bench_prerelax.py [--models CHGNet,7net-l3i5] [--n 24] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from pymatgen.core import Structure
from rich.console import Console

console = Console(stderr=True)
FMAX = 0.05


def pick_structures(n: int, seed: int = 1) -> list[Structure]:
    """``n`` strained and rattled bundled crystals of at most 8 atoms."""
    from genflow.model.data import load_dataset

    base: list[Structure] = []
    for name in ("mp_20", "perov_5"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base += list(load_dataset(name).structures)
    rng = np.random.default_rng(seed)
    small = [s for s in base if len(s) <= 8]
    picks = [small[int(i)].copy() for i in rng.choice(len(small), size=n, replace=False)]
    for s in picks:
        s.apply_strain(float(rng.uniform(-0.03, 0.03)))
        s.perturb(0.05, seed=int(rng.integers(2**31)))
    return picks


def _raw(results: list) -> list[float]:
    """Model energies (eV/atom) before any MP2020 correction."""
    return [r.energy_per_atom - (r.correction_per_atom or 0.0) for r in results]


def _count(results: list, attr: str) -> int:
    """How many results have a truthy ``attr`` (``error``, ``converged``)."""
    return sum(bool(getattr(r, attr)) for r in results)


def one_job_each(structures: list[Structure], model: str, steps: int) -> float:
    """Seconds for one plain atomate2 ``ForceFieldRelaxMaker`` job per structure."""
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker
    from jobflow import Flow, JobStore, run_locally
    from maggma.stores import MemoryStore

    from genflow.workflows.mlips import resolve_mlip

    mlip = resolve_mlip(model)
    maker = ForceFieldRelaxMaker(
        force_field_name=mlip.force_field,
        calculator_kwargs=dict(mlip.calculator_kwargs),
        steps=steps,
        relax_cell=True,
        relax_kwargs={"fmax": FMAX},
    )
    flow = Flow([maker.make(s) for s in structures])
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    t0 = time.perf_counter()
    run_locally(flow, store=store, log=False, ensure_success=True)
    return time.perf_counter() - t0


def bench_model(structures: list[Structure], model: str, steps: int, jobs: bool,
                threads: int = 1) -> dict:  # fmt: skip
    """Batched vs atomate2 for one model: seconds, ratios and the largest energy difference.

    ``threads`` torch threads on both sides (the process-wide setting is the caller's).
    """
    from genflow.workflows.gate.prerelax import prerelax_structures
    from genflow.workflows.mlips import resolve_mlip

    kwargs = {"steps": steps, "relax_cell": True, "torch_threads": threads,
              "relax_kwargs": {"fmax": FMAX, "final_atoms_object_file": None}}  # fmt: skip
    # warm-up: imports, weights, first-call overheads on both sides
    prerelax_structures(structures[:2], model=model, method="batched", **{**kwargs, "steps": 2})
    prerelax_structures(structures[:1], model=model, method="atomate2", **{**kwargs, "steps": 2})

    t0 = time.perf_counter()
    batched = prerelax_structures(structures, model=model, method="batched", **kwargs)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    reused = prerelax_structures(structures, model=model, method="atomate2", **kwargs)
    t_reused = time.perf_counter() - t0
    t_jobs = one_job_each(structures, model, steps) if jobs else None

    ok = [(b, r) for b, r in zip(_raw(batched), _raw(reused), strict=True)]
    diffs = [abs(b - r) if np.isfinite(b) and np.isfinite(r) else 0.0 for b, r in ok]
    worst = int(np.argmax(diffs))
    # "equal energies" is only defined where both optimisers reached a minimum
    both = [d for d, b, r in zip(diffs, batched, reused, strict=True)
            if b.converged and r.converged]  # fmt: skip
    # two converged runs can still stop in different local minima (FIRE's path depends on
    # the step arithmetic); then their energies need not agree, so say which rows those are
    same = same_minimum(batched, reused)
    same_diffs = [d for d, b, r, m in zip(diffs, batched, reused, same, strict=True)
                  if m and b.converged and r.converged]  # fmt: skip
    return {
        "model": resolve_mlip(model).label,
        "batched_method": batched[0].method,
        "n_structures": len(structures),
        "failed_batched_vs_atomate2": [_count(xs, "error") for xs in (batched, reused)],
        "batched_seconds": round(t_batch, 2),
        "atomate2_job_each_seconds": None if t_jobs is None else round(t_jobs, 2),
        "atomate2_model_loaded_once_seconds": round(t_reused, 2),
        "speedup_vs_job_each": None if t_jobs is None else round(t_jobs / t_batch, 2),
        "speedup_vs_model_loaded_once": round(t_reused / t_batch, 2),
        "atomate2_steps_total": sum(x.n_steps or 0 for x in reused),
        "atomate2_steps_max": max(x.n_steps or 0 for x in reused),
        "max_energy_difference_meV_per_atom": round(1000 * max(diffs), 4),
        "max_energy_difference_both_converged_meV_per_atom": round(1000 * max(both), 4)
        if both
        else None,
        "worst_row": {
            **_row(structures, diffs, worst),
            "converged_batched": bool(batched[worst].converged),
            "converged_atomate2": bool(reused[worst].converged),
            "atomate2_steps": reused[worst].n_steps,
        },
        "converged_batched_vs_atomate2": [_count(xs, "converged") for xs in (batched, reused)],
        "rows_in_different_minima": [
            _row(structures, diffs, i) for i, m in enumerate(same) if not m
        ],
        "max_energy_difference_same_minimum_meV_per_atom": round(1000 * max(same_diffs), 4)
        if same_diffs
        else None,
    }


def _row(structures: list[Structure], diffs: list[float], i: int) -> dict:
    """Index, formula and energy difference (meV/atom) of row ``i``."""
    return {"index": i, "formula": structures[i].composition.reduced_formula,
            "meV_per_atom": round(1000 * diffs[i], 4)}  # fmt: skip


def same_minimum(a: list, b: list) -> list[bool]:
    """Per row: did both relaxations end in the same structure (tight StructureMatcher)?

    Tolerances far below the default (lengths 2 %, sites 0.05 of the mean spacing, 1°), so
    two end points count as one minimum only when they are the same geometry.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    sm = StructureMatcher(ltol=0.02, stol=0.05, angle_tol=1, primitive_cell=False, scale=False)
    return [x.structure is not None and y.structure is not None and sm.fit(x.structure, y.structure)
            for x, y in zip(a, b, strict=True)]  # fmt: skip


def forward_scaling(structures: list[Structure], model: str, threads: int = 1,
                    repeats: int = 2) -> dict | None:  # fmt: skip
    """Seconds of one model call per structure vs one call on the whole batch (torch-sim).

    Separates what batching can save (per-call overhead) from the model's own arithmetic:
    a ratio near 1 means the forward pass is compute-bound and batching only removes the
    optimiser's and calculator's per-structure overheads.
    """
    from torch_sim.state import initialize_state

    from genflow.workflows.gate.ts_relax import load_torch_sim_model
    from genflow.workflows.mlips import resolve_mlip

    mlip = resolve_mlip(model)
    if mlip.torch_sim is None:
        return None
    net = load_torch_sim_model(mlip.torch_sim, dict(mlip.calculator_kwargs), threads)
    singles = [initialize_state([s], net.device, net.dtype) for s in structures]
    batch = initialize_state(structures, net.device, net.dtype)
    net(singles[0]), net(batch)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        for state in singles:
            net(state)
    t1 = time.perf_counter()
    for _ in range(repeats):
        net(batch)
    t2 = time.perf_counter()
    return {"single_calls_seconds": round((t1 - t0) / repeats, 3),
            "batched_call_seconds": round((t2 - t1) / repeats, 3),
            "ratio": round((t1 - t0) / (t2 - t1), 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="CHGNet,7net-l3i5", help="MLIP registry keys")
    parser.add_argument("--n", type=int, default=24, help="structures")
    parser.add_argument("--steps", type=int, default=300, help="max FIRE steps")
    parser.add_argument("--no-jobs", action="store_true", help="skip the one-job-each baseline")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    structures = pick_structures(args.n)
    report = {"load_average_start": os.getloadavg()[0], "torch_threads": args.threads,
              "models": []}  # fmt: skip
    for model in filter(None, args.models.split(",")):
        # model banners ("CHGNet ... initialized") go to stderr: stdout is the --json report
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            d = bench_model(structures, model, args.steps, not args.no_jobs, args.threads)
            d["forward_pass_single_vs_batched"] = forward_scaling(structures, model, args.threads)
        report["models"].append(d)
        console.print(report["models"][-1])
    report["load_average_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for d in report["models"]:
        print(f"pre-relax [{d['model']}, {d['batched_method']}] {d['n_structures']} structures "
              f"(cell + positions, fmax {FMAX}): batched {d['batched_seconds']} s; atomate2 one "
              f"job each {d['atomate2_job_each_seconds']} s (x{d['speedup_vs_job_each']}); "
              f"atomate2 model loaded once {d['atomate2_model_loaded_once_seconds']} s "
              f"(x{d['speedup_vs_model_loaded_once']}); max |ΔE| "
              f"{d['max_energy_difference_meV_per_atom']} meV/atom (same minimum, both "
              f"converged: {d['max_energy_difference_same_minimum_meV_per_atom']}; rows in "
              f"different minima: {d['rows_in_different_minima']}); converged "
              f"{d['converged_batched_vs_atomate2']}; one model call per structure vs one "
              f"batched call: {d['forward_pass_single_vs_batched']}")  # fmt: skip
    print(f"load average {report['load_average_start']:.1f} -> {report['load_average_end']:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main()
