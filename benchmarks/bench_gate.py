"""Benchmark the gate: duplicate search at campaign scale, and batched CHGNet pre-relax.

1. Dedupe: ``--n-new`` (10^4) new structures against ``--n-stored`` (4·10^4) stored ones with
   ``genflow.workflows.dedupe`` (target < 60 s). Data are real MP-20 and Perov-5 crystals
   (bundled with genflow.model) and variants of them: relabelled copies (species swapped for
   other elements: same prototype, usually a new formula) and perturbed copies (3% strain, 0.05
   Å noise, a supercell: duplicates the gate must catch). Stored rows stay pymatgen dicts, as
   they come out of MongoDB. Baseline, same run: the naive search — ``StructureMatcher.fit``
   against every stored structure of the same reduced formula — timed on a sample of the new
   rows and extrapolated.
2. Pre-relax: ``--n-relax`` small structures through ``prerelax_structures`` (one CHGNet model
   for the batch) against one atomate2 ``ForceFieldRelaxMaker`` job per structure, each job
   loading its own model as a FireWorks worker would.

Usage: ``python benchmarks/bench_gate.py [--quick] [--json]``. Prints times and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from rich.console import Console
from rich.progress import track

console = Console(stderr=True)


def load_base(limit: int | None) -> list[Structure]:
    """Real crystals from the bundled MP-20 and Perov-5 sets."""
    from genflow.model.data import load_dataset

    out: list[Structure] = []
    for name in ("mp_20", "perov_5"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out += list(load_dataset(name, limit=limit).structures)
    return out


def relabel(d: dict, rng: np.random.Generator, pool: list[str]) -> dict:
    """Copy of a structure dict with each element mapped to a distinct random element."""
    elements = sorted({sp["element"] for site in d["sites"] for sp in site["species"]})
    mapping = dict(zip(elements, rng.choice(pool, size=len(elements), replace=False), strict=True))
    sites = []
    for site in d["sites"]:
        species = [{**sp, "element": str(mapping[sp["element"]])} for sp in site["species"]]
        sites.append({**site, "label": None, "species": species})
    return {**d, "sites": sites}


def perturbed_copy(s: Structure, rng: np.random.Generator) -> Structure:
    """The same crystal as the matcher sees it: strained, rattled, maybe a supercell."""
    out = s.make_supercell([2, 1, 1], in_place=False) if rng.random() < 0.3 else s.copy()
    out.apply_strain(float(rng.uniform(-0.03, 0.03)))
    out.perturb(0.05, min_distance=0.0)
    return out


def make_dedupe_data(base: list[Structure], n_stored: int, n_new: int, seed: int = 0):
    """Stored dicts and new Structures (see the module docstring for the mix)."""
    rng = np.random.default_rng(seed)
    base_dicts = [s.as_dict() for s in base]
    pool = sorted({el.symbol for s in base for el in s.composition.elements})
    stored = [(f"real-{i}", d) for i, d in enumerate(base_dicts)][:n_stored]
    while len(stored) < n_stored:
        i = int(rng.integers(len(base_dicts)))
        stored.append((f"relab-{len(stored)}", relabel(base_dicts[i], rng, pool)))
    n_dup_stored, n_dup_batch = int(0.15 * n_new), int(0.05 * n_new)
    new: list[tuple[str, Structure]] = []
    for k in track(
        range(n_new - n_dup_stored - n_dup_batch), description="fresh rows", console=console
    ):
        d = relabel(base_dicts[int(rng.integers(len(base_dicts)))], rng, pool)
        new.append((f"new-{k}", Structure.from_dict(d)))
    for k in range(n_dup_stored):
        key, d = stored[int(rng.integers(len(stored)))]
        new.append((f"dup-of-{key}-{k}", perturbed_copy(Structure.from_dict(d), rng)))
    for k in range(n_dup_batch):
        key, s = new[int(rng.integers(len(new)))]
        new.append((f"dup-of-{key}-{k}", perturbed_copy(s, rng)))
    order = rng.permutation(len(new))
    return stored, [new[i] for i in order]


def bench_dedupe(base: list[Structure], n_stored: int, n_new: int, n_naive: int) -> dict:
    from genflow.workflows.dedupe import StructureIndex, composition_key, find_duplicates

    stored, new = make_dedupe_data(base, n_stored, n_new)
    console.print(f"dedupe: {len(new)} new vs {len(stored)} stored")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        index = StructureIndex()
        index.add_many(stored)
        t_add = time.perf_counter() - t0
        results = find_duplicates(new, index)
        t_index = time.perf_counter() - t0

        # baseline 1, what pymatgen's group_structures does: fit against every stored
        # structure and every earlier batch row of the same composition, each fit reducing
        # both cells; parsing the stored dicts it touches is timed too, as for the index.
        # Timed on random rows (each against everything before it), extrapolated.
        rng = np.random.default_rng(2)
        picks = sorted(int(i) for i in rng.choice(len(new), size=n_naive, replace=False))
        sample = [new[i] for i in picks]
        t0 = time.perf_counter()  # bucketing everything is part of the baseline's cost
        by_comp: dict[tuple, list[dict]] = {}
        for _, d in stored:
            by_comp.setdefault(composition_key(d), []).append(d)
        earlier: dict[tuple, list[tuple[int, Structure]]] = {}
        for pos, (_, s) in enumerate(new):
            earlier.setdefault(composition_key(s), []).append((pos, s))
        t_bucketing = time.perf_counter() - t0
        sm = StructureMatcher()
        t0 = time.perf_counter()
        naive_hits = 0
        for pos, (_, s) in track(
            list(zip(picks, sample, strict=True)),
            description="baseline: bucketed fits",
            console=console,
        ):
            key = composition_key(s)
            same = (Structure.from_dict(d) for d in by_comp.get(key, []))
            if any(sm.fit(s, other) for other in same):
                naive_hits += 1
                continue
            any(sm.fit(s, other) for p, other in earlier.get(key, []) if p < pos)
        t_bucketed = t_bucketing + (time.perf_counter() - t0) / len(sample) * len(new)

        # baseline 2: fit every pair (the matcher rejects other compositions itself)
        rows = rng.integers(len(new), size=n_naive * 5)
        cols = rng.integers(len(stored), size=n_naive * 5)
        pairs = [
            (new[i][1], Structure.from_dict(stored[j][1])) for i, j in zip(rows, cols, strict=True)
        ]
        t0 = time.perf_counter()
        for a, b in pairs:
            sm.fit(a, b)
        per_pair = (time.perf_counter() - t0) / len(pairs)
        t_all_pairs = per_pair * (len(new) * len(stored) + len(new) * (len(new) - 1) / 2)
    n_dup = sum(r.is_duplicate for r in results)
    # a planted copy is caught if it is flagged, or (batch order being random) if its
    # source row is flagged as a duplicate of it
    by_key = {k: r for (k, _), r in zip(new, results, strict=True)}
    planted = [k for k, _ in new if k.startswith("dup-of-")]
    found_planted = sum(
        by_key[k].is_duplicate
        or by_key.get(k[len("dup-of-") :].rsplit("-", 1)[0], by_key[k]).duplicate_of == k
        for k in planted
    )
    index_hits_sample = sum(results[i].against == "stored" for i in picks)
    return {
        "n_new": len(new),
        "n_stored": len(stored),
        "index_seconds": round(t_index, 2),
        "index_add_seconds": round(t_add, 2),
        "index_fits": index.n_fits,
        "duplicates_found": n_dup,
        "planted_duplicates": len(planted),
        "planted_found": found_planted,
        "baseline_sample_rows": len(sample),
        "baseline_vs_index_stored_hits_on_sample": [int(naive_hits), index_hits_sample],
        "bucketed_fits_seconds_extrapolated": round(t_bucketed, 1),
        "all_pairs_seconds_extrapolated": round(t_all_pairs),
        "speedup_vs_bucketed_fits": round(t_bucketed / t_index, 2),
        "speedup_vs_all_pairs": round(t_all_pairs / t_index),
        "target_met": t_index < 60,
    }


CROWDED_PAIRS = [("Li", "O"), ("Fe", "O"), ("Mn", "O"), ("Co", "S"), ("Ni", "Se"),
                 ("Ti", "N"), ("Zn", "S"), ("Mg", "O"), ("Al", "N"), ("Cu", "Se")]  # fmt: skip


def bench_crowded(base: list[Structure], n_stored: int, n_new: int, n_naive: int) -> dict:
    """A chemical-system campaign: every row a binary of 10 element pairs (~100 per formula).

    Real binary prototypes relabelled onto the pairs, so formula buckets are large and the
    reduced-cell cache and site-count prefilter carry the load.
    """
    from genflow.workflows.dedupe import StructureIndex, composition_key, find_duplicates

    rng = np.random.default_rng(3)
    binaries = [s.as_dict() for s in base if len(s.composition.elements) == 2 and len(s) <= 12]

    def draw(n: int) -> list[dict]:
        out = []
        for _ in range(n):
            d = binaries[int(rng.integers(len(binaries)))]
            pair = CROWDED_PAIRS[int(rng.integers(len(CROWDED_PAIRS)))]
            els = sorted({sp["element"] for site in d["sites"] for sp in site["species"]})
            mapping = dict(zip(els, pair if rng.random() < 0.5 else pair[::-1], strict=True))
            sites = [
                {**site, "label": None,
                 "species": [{**sp, "element": mapping[sp["element"]]} for sp in site["species"]]}
                for site in d["sites"]
            ]  # fmt: skip
            out.append({**d, "sites": sites})
        return out

    stored = [(f"s{i}", d) for i, d in enumerate(draw(n_stored))]
    new = [(f"n{i}", Structure.from_dict(d)) for i, d in enumerate(draw(n_new))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        index = StructureIndex()
        index.add_many(stored)
        results = find_duplicates(new, index)
        t_index = time.perf_counter() - t0
        by_comp: dict[tuple, list[dict]] = {}
        for _, d in stored:
            by_comp.setdefault(composition_key(d), []).append(d)
        sm = StructureMatcher()
        sample = new[:n_naive]
        t0 = time.perf_counter()
        hits = 0
        for _, s in track(sample, description="crowded baseline", console=console):
            same = (Structure.from_dict(d) for d in by_comp.get(composition_key(s), []))
            hits += any(sm.fit(s, other) for other in same)
        t_bucketed = (time.perf_counter() - t0) / len(sample) * len(new)
    return {
        "n_new": n_new,
        "n_stored": n_stored,
        "largest_bucket": max(len(v) for v in by_comp.values()),
        "index_seconds": round(t_index, 2),
        "index_fits": index.n_fits,
        "duplicates_found": sum(r.is_duplicate for r in results),
        "baseline_vs_index_stored_hits_on_sample": [
            int(hits),
            sum(r.against == "stored" for r in results[: len(sample)]),
        ],
        "bucketed_fits_seconds_extrapolated": round(t_bucketed, 1),
        "speedup_vs_bucketed_fits": round(t_bucketed / t_index, 2),
    }


def bench_prerelax(base: list[Structure], n: int) -> dict:
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from genflow.workflows.gate import prerelax_structures
    from genflow.workflows.relax import MLIPRelaxMaker

    rng = np.random.default_rng(1)
    small = [s for s in base if len(s) <= 6]
    picks = [small[int(i)].copy() for i in rng.choice(len(small), size=n, replace=False)]
    for s in picks:
        s.perturb(0.05)
    kwargs = {"steps": 100, "relax_kwargs": {"fmax": 0.1, "final_atoms_object_file": None}}

    # warm up imports (torch, CHGNet, atomate2) so neither side pays for them
    import chgnet.model  # noqa: F401
    from atomate2.forcefields.schemas import ForceFieldTaskDocument  # noqa: F401

    t0 = time.perf_counter()
    batched = prerelax_structures(picks, **kwargs)
    t_batch = time.perf_counter() - t0

    t0 = time.perf_counter()
    per_job = []
    for s in track(picks, description="one job per structure", console=console):
        # a new maker per job, as each FireWorks job deserialises its own
        job = MLIPRelaxMaker(**kwargs).make(s)
        store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
        out = run_locally(job, store=store, log=False, ensure_success=True)
        per_job.append(out[job.uuid][1].output.output.energy / len(s))
    t_jobs = time.perf_counter() - t0
    diff = max(abs(b.energy_per_atom - e) for b, e in zip(batched, per_job, strict=True))
    return {
        "n_structures": n,
        "batched_seconds": round(t_batch, 2),
        "one_job_each_seconds": round(t_jobs, 2),
        "speedup": round(t_jobs / t_batch, 2),
        "max_energy_difference_eV_per_atom": float(f"{diff:.2e}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-new", type=int, default=10_000)
    parser.add_argument("--n-stored", type=int, default=40_000)
    parser.add_argument("--n-naive", type=int, default=500, help="baseline sample size")
    parser.add_argument("--n-relax", type=int, default=8)
    parser.add_argument("--base-limit", type=int, default=None, help="rows per bundled CSV")
    parser.add_argument("--quick", action="store_true", help="10x smaller dedupe, 4 relaxes")
    parser.add_argument("--skip-prerelax", action="store_true")
    parser.add_argument("--skip-crowded", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_new, args.n_stored, args.n_naive, args.n_relax = 1000, 4000, 100, 4
        args.base_limit = args.base_limit or 500

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base = load_base(args.base_limit)
    console.print(f"loaded {len(base)} real structures in {time.perf_counter() - t0:.0f} s")
    report = {"dedupe": bench_dedupe(base, args.n_stored, args.n_new, args.n_naive)}
    if not args.skip_crowded:
        n = 10 if args.quick else 1
        report["crowded"] = bench_crowded(base, 4000 // n, 1000 // n, 30 // n)
    if not args.skip_prerelax:
        report["prerelax"] = bench_prerelax(base, args.n_relax)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    d = report["dedupe"]
    print(
        f"dedupe {d['n_new']} new vs {d['n_stored']} stored: {d['index_seconds']} s "
        f"({d['index_fits']} fits; target < 60 s: {d['target_met']}); "
        f"{d['duplicates_found']} duplicates, "
        f"{d['planted_found']}/{d['planted_duplicates']} planted found"
    )
    print(f"  baseline bucketed fits ~{d['bucketed_fits_seconds_extrapolated']} s "
          f"(x{d['speedup_vs_bucketed_fits']}), all pairs ~{d['all_pairs_seconds_extrapolated']} s "
          f"(x{d['speedup_vs_all_pairs']})")  # fmt: skip
    if c := report.get("crowded"):
        print(f"crowded chemical-system dedupe {c['n_new']} new vs {c['n_stored']} stored "
              f"(buckets up to {c['largest_bucket']}): {c['index_seconds']} s, bucketed fits "
              f"~{c['bucketed_fits_seconds_extrapolated']} s "
              f"-> x{c['speedup_vs_bucketed_fits']}")  # fmt: skip
    if p := report.get("prerelax"):
        print(f"pre-relax {p['n_structures']} structures: batched {p['batched_seconds']} s, "
              f"one atomate2 job each {p['one_job_each_seconds']} s -> speedup x{p['speedup']} "
              f"(max |ΔE| {p['max_energy_difference_eV_per_atom']} eV/atom)")  # fmt: skip


if __name__ == "__main__":
    main()
