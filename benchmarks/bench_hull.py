"""Benchmark: batched hull scoring vs the naive "one PhaseDiagram per candidate" path.

Both paths score the same candidates against the bundled ``mp2021`` hull in one run:

- naive: for each candidate, filter the 32,436 reference ``PDEntry`` objects to its chemical
  system, build a pymatgen ``PhaseDiagram`` and call
  ``get_decomp_and_e_above_hull(entry, allow_negative=True)`` (timed on a random subsample,
  extrapolated per candidate);
- genflow: ``ReferenceHull.score`` on all candidates from a cold cache (each chemical
  system's hull built once — small binaries/ternaries enumerated together, the rest with
  qhull — and all candidates evaluated in a few vectorised calls).

Two candidate sets, compositions from MP-20 (the distribution generative models train on),
energies = MP energy + N(0, 50 meV/atom) so candidates fall on both sides of the hull:

- campaign: ``--n`` candidates drawn with replacement (chemical systems recur, as in a
  campaign that samples many structures per system);
- distinct: one candidate per distinct chemical system (no reuse at all: the worst case).

Usage: ``python benchmarks/bench_hull.py [--n 20000] [--naive 100] [--seed 0]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # fair single-thread comparison, shared box

import argparse
import time
from ast import literal_eval
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from genflow.core.chem import _parse_str, _reduced_formula
from genflow.hull import ReferenceHull, load_mp2021

MP20 = Path(__file__).resolve().parents[1] / "tests" / "hull" / "data" / "mp20_energies.csv.gz"


def naive_e_d(entries: list[PDEntry], formula: str, energy: float) -> float:
    """E_d the naive way: a fresh PhaseDiagram from the whole reference for one candidate."""
    comp = Composition(formula)
    elements = set(comp.elements)
    subset = [e for e in entries if set(e.composition.elements) <= elements]
    diagram = PhaseDiagram(subset)
    entry = PDEntry(comp, energy * comp.num_atoms)
    return diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1]


def run_set(
    name: str,
    hull: ReferenceHull,
    entries: list[PDEntry],
    formulas: list[str],
    energies: np.ndarray,
    n_naive: int,
    rng: np.random.Generator,
) -> dict:
    """Time both paths on one candidate set and check they agree."""
    hull.clear_cache()
    _parse_str.cache_clear()
    _reduced_formula.cache_clear()
    t0 = time.perf_counter()
    scores = hull.score(formulas, energies)
    fast = (time.perf_counter() - t0) / len(formulas)

    pick = rng.choice(len(formulas), size=min(n_naive, len(formulas)), replace=False)
    t0 = time.perf_counter()
    naive = [naive_e_d(entries, formulas[i], float(energies[i])) for i in pick]
    slow = (time.perf_counter() - t0) / len(pick)
    max_diff = max(abs(scores[i].e_d - d) for i, d in zip(pick, naive, strict=True))
    systems = {tuple(sorted(el.symbol for el in Composition(f).elements)) for f in formulas}
    return {
        "set": name,
        "candidates": len(formulas),
        "chemical_systems": len(systems),
        "hulls_built": hull.cached_systems,
        "genflow_ms": fast * 1e3,
        "naive_ms": slow * 1e3,
        "ratio": slow / fast,
        "naive_sample": len(pick),
        "max_abs_diff_e_d": max_diff,
        "n_stable": sum(s.is_stable for s in scores),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="campaign-set size")
    parser.add_argument("--naive", type=int, default=100, help="naive subsample per set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    hull = load_mp2021()
    load_s = time.perf_counter() - t0
    entries = hull.entries()  # the naive path's input, built once and not timed

    mp20 = pd.read_csv(MP20)
    formulas = mp20["pretty_formula"].tolist()
    base = mp20["formation_energy_per_atom"].to_numpy() - hull.formation_energy(
        formulas, np.zeros(len(formulas))
    )
    ok = np.isfinite(base)
    formulas = [f for f, keep in zip(formulas, ok, strict=True) if keep]
    base = base[ok]

    campaign = rng.integers(0, len(formulas), size=args.n)
    systems = ["-".join(sorted(literal_eval(s))) for s in mp20.loc[ok, "elements"]]
    _, first = np.unique(systems, return_index=True)
    results = [
        run_set(
            "campaign",
            hull,
            entries,
            [formulas[i] for i in campaign],
            base[campaign] + rng.normal(0, 0.05, len(campaign)),
            args.naive,
            rng,
        ),
        run_set(
            "distinct",
            hull,
            entries,
            [formulas[i] for i in first],
            base[first] + rng.normal(0, 0.05, len(first)),
            args.naive,
            rng,
        ),
    ]
    print(f"mp2021 hull: {len(hull)} entries, loaded in {load_s:.2f} s")
    header = (
        f"{'set':<9}{'cands':>7}{'systems':>9}{'hulls':>7}{'genflow ms':>12}"
        f"{'naive ms':>10}{'ratio':>8}{'max|dE_d|':>11}"
    )
    print(header)
    for r in results:
        print(
            f"{r['set']:<9}{r['candidates']:>7}{r['chemical_systems']:>9}{r['hulls_built']:>7}"
            f"{r['genflow_ms']:>12.4f}{r['naive_ms']:>10.2f}{r['ratio']:>7.0f}x"
            f"{r['max_abs_diff_e_d']:>11.1e}"
        )
    print("(ms per candidate; naive timed on a random subsample of each set, same run)")


if __name__ == "__main__":
    main()
