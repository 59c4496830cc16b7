"""Benchmark the gate: duplicate search at campaign scale, and batched CHGNet pre-relax.

1. Dedupe, two regimes, each ``--n-new`` (10^4) new structures against ``--n-stored``
   (4·10^4) stored ones with ``genflow.workflows.gate.dedupe`` (target < 60 s). ``spread``: real
   MP-20 and Perov-5 crystals (bundled with genflow.model) and variants: relabelled copies
   (species swapped: same prototype, usually a new formula) and perturbed copies (3% strain,
   0.05 Å noise, a supercell: duplicates the gate must catch). ``crowded``: a chemical-system
   campaign, every row a binary of 10 element pairs, buckets of thousands. Stored rows are
   pymatgen dicts with the fingerprint an earlier gate run stored (``--no-stored-fp``: without).
   Baseline, same run: ``StructureMatcher.fit`` against every stored and earlier row of the
   same reduced composition, timed on ``--n-naive`` rows and extrapolated. Its answers are
   checked against the index's on every row (untimed, ``baseline_answers``); the ratio is
   printed only when they agree on all rows.
2. Pre-relax: ``--n-relax`` small structures, batched CHGNet (``batch_relax``) against
   atomate2's ``ForceFieldRelaxMaker`` per structure (one maker reused, and one job each).

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


def relabel(d: dict, rng: np.random.Generator, pool: list[str]) -> tuple[dict, dict]:
    """Copy of a structure dict with each element mapped to a distinct random element."""
    elements = sorted({sp["element"] for site in d["sites"] for sp in site["species"]})
    mapping = dict(zip(elements, rng.choice(pool, size=len(elements), replace=False), strict=True))
    return apply_mapping(d, {k: str(v) for k, v in mapping.items()}), mapping


def apply_mapping(d: dict, mapping: dict[str, str]) -> dict:
    """Structure dict with elements renamed by ``mapping``."""
    sites = []
    for site in d["sites"]:
        species = [{**sp, "element": mapping[sp["element"]]} for sp in site["species"]]
        sites.append({**site, "label": None, "species": species})
    return {**d, "sites": sites}


def relabel_fingerprint(fp: dict, mapping: dict[str, str]) -> dict:
    """Fingerprint of a relabelled copy: the same reduced cell with renamed species.

    Exact: the matcher's reduction depends on which sites carry equal species, which a
    one-to-one renaming keeps; it spares the benchmark 4·10^4 reductions of set-up.
    """
    species = [{mapping[el]: occ for el, occ in sp.items()} for sp in fp["cell"]["species"]]
    return {**fp, "cell": {**fp["cell"], "species": species}}


def perturbed_copy(s: Structure, rng: np.random.Generator, supercell: float = 0.3) -> Structure:
    """The same crystal as the matcher sees it: strained, rattled, maybe a supercell."""
    out = s.make_supercell([2, 1, 1], in_place=False) if rng.random() < supercell else s.copy()
    out.apply_strain(float(rng.uniform(-0.03, 0.03)))
    out.perturb(0.05, min_distance=0.0, seed=int(rng.integers(2**31)))
    return out


class Fingerprints:
    """Fingerprints of base structures (what earlier gate runs stored), relabelled per row."""

    def __init__(self, base_dicts: list[dict]) -> None:
        self.base_dicts = base_dicts
        self._fps: dict[int, dict] = {}

    def __call__(self, i: int, mapping: dict[str, str]) -> dict:
        from genflow.workflows.gate.fingerprint import fingerprint

        if i not in self._fps:
            self._fps[i] = fingerprint(Structure.from_dict(self.base_dicts[i]))
        return relabel_fingerprint(self._fps[i], mapping)


def make_spread_data(base: list[Structure], n_stored: int, n_new: int, seed: int = 0):
    """Stored ``(key, dict, fingerprint)`` rows and new Structures (module docstring mix)."""
    rng = np.random.default_rng(seed)
    base_dicts = [s.as_dict() for s in base]
    fps = Fingerprints(base_dicts)
    pool = sorted({el.symbol for s in base for el in s.composition.elements})
    stored = []
    for i, d in enumerate(base_dicts[:n_stored]):
        els = {sp["element"] for site in d["sites"] for sp in site["species"]}
        stored.append((f"real-{i}", d, fps(i, {e: e for e in els})))
    while len(stored) < n_stored:
        i = int(rng.integers(len(base_dicts)))
        d, mapping = relabel(base_dicts[i], rng, pool)
        stored.append((f"relab-{len(stored)}", d, fps(i, mapping)))
    n_dup_stored, n_dup_batch = int(0.15 * n_new), int(0.05 * n_new)
    new: list[tuple[str, Structure]] = []
    for k in range(n_new - n_dup_stored - n_dup_batch):
        d, _ = relabel(base_dicts[int(rng.integers(len(base_dicts)))], rng, pool)
        new.append((f"new-{k}", Structure.from_dict(d)))
    for k in range(n_dup_stored):
        key, d, _ = stored[int(rng.integers(len(stored)))]
        new.append((f"dup-of-{key}-{k}", perturbed_copy(Structure.from_dict(d), rng)))
    for k in range(n_dup_batch):
        key, s = new[int(rng.integers(len(new)))]
        new.append((f"dup-of-{key}-{k}", perturbed_copy(s, rng)))
    order = rng.permutation(len(new))
    return stored, [new[i] for i in order]


CROWDED_PAIRS = [("Li", "O"), ("Fe", "O"), ("Mn", "O"), ("Co", "S"), ("Ni", "Se"),
                 ("Ti", "N"), ("Zn", "S"), ("Mg", "O"), ("Al", "N"), ("Cu", "Se")]  # fmt: skip


def make_crowded_data(base: list[Structure], n_stored: int, n_new: int, seed: int = 3):
    """A chemical-system campaign: every row a binary of 10 element pairs.

    Real binary prototypes (<= 12 sites) relabelled onto the pairs, so formula buckets hold
    hundreds to thousands of rows. New rows are rattled and strained (1%), so a repeat is
    a true matcher duplicate, not a bit-identical copy.
    """
    rng = np.random.default_rng(seed)
    binaries = [s.as_dict() for s in base if len(s.composition.elements) == 2 and len(s) <= 12]
    fps = Fingerprints(binaries)

    def draw() -> tuple[int, dict[str, str]]:
        i = int(rng.integers(len(binaries)))
        pair = CROWDED_PAIRS[int(rng.integers(len(CROWDED_PAIRS)))]
        els = sorted({sp["element"] for site in binaries[i]["sites"] for sp in site["species"]})
        return i, dict(zip(els, pair if rng.random() < 0.5 else pair[::-1], strict=True))

    stored = []
    for k in range(n_stored):
        i, mapping = draw()
        stored.append((f"s{k}", apply_mapping(binaries[i], mapping), fps(i, mapping)))
    new = []
    for k in range(n_new):
        i, mapping = draw()
        s = Structure.from_dict(apply_mapping(binaries[i], mapping))
        s.apply_strain(float(rng.uniform(-0.01, 0.01)))
        s.perturb(0.03, min_distance=0.0, seed=int(rng.integers(2**31)))
        new.append((f"n{k}", s))
    return stored, new


def _amd_gap(a: Structure, b: Structure) -> float:
    from genflow.workflows.gate.fingerprint import amd_vector, reduced_cell

    return float(np.abs(np.subtract(amd_vector(reduced_cell(a)), amd_vector(reduced_cell(b))))
                 .max())  # fmt: skip


def bucketed_fits_baseline(stored, new, n_sample: int, seed: int = 2):
    """Seconds of the composition-bucketed search, extrapolated from ``n_sample`` rows.

    What pymatgen's ``group_structures`` does: ``fit`` (reducing both cells each time)
    against every stored row and every earlier batch row of the same reduced composition.
    Parsing the stored dicts it touches is timed too. Returns (seconds, sampled positions,
    {position: AMD L∞ gap of the pair the matcher fitted, or None for no duplicate}); the
    gaps are measured after the timing.
    """
    from genflow.workflows.gate.dedupe import composition_key

    rng = np.random.default_rng(seed)
    picks = sorted(int(i) for i in rng.choice(len(new), size=n_sample, replace=False))
    t0 = time.perf_counter()  # bucketing everything is part of the baseline's cost
    by_comp: dict[tuple, list[dict]] = {}
    for _, d, *_ in stored:
        by_comp.setdefault(composition_key(d), []).append(d)
    earlier: dict[tuple, list[tuple[int, Structure]]] = {}
    for pos, (_, s) in enumerate(new):
        earlier.setdefault(composition_key(s), []).append((pos, s))
    t_bucketing = time.perf_counter() - t0
    sm = StructureMatcher()
    t0 = time.perf_counter()
    fitted: dict[int, Structure | None] = {}
    for pos in track(picks, description="baseline: bucketed fits", console=console):
        s = new[pos][1]
        key = composition_key(s)
        cands = (Structure.from_dict(d) for d in by_comp.get(key, []))
        hit = next((o for o in cands if sm.fit(s, o)), None)
        if hit is None:
            hit = next((o for p, o in earlier.get(key, []) if p < pos and sm.fit(s, o)), None)
        fitted[pos] = hit
    seconds = t_bucketing + (time.perf_counter() - t0) / n_sample * len(new)
    gaps = {p: (None if o is None else _amd_gap(new[p][1], o)) for p, o in fitted.items()}
    return seconds, picks, gaps


def _as_structure(x: Structure | dict) -> Structure:
    return x if isinstance(x, Structure) else Structure.from_dict(x)


def baseline_answers(stored, new, results) -> list[int]:
    """Positions where the index's answer differs from the bucketed-fits baseline's (every row).

    The baseline's answer for a row: does ``StructureMatcher.fit`` match it to any stored row
    or any earlier batch row of its reduced composition? Untimed. A row the index flags is
    confirmed with one fit against the partner it named (then "any" is true); only rows the
    index calls unique need the full bucket, which is where a missed duplicate would show.
    """
    from genflow.workflows.gate.dedupe import composition_key

    sm = StructureMatcher()
    by_key = {k: d for k, d, *_ in stored} | {k: s for k, s in new}
    by_comp: dict[tuple, list[Structure | dict]] = {}
    for _, d, *_ in stored:
        by_comp.setdefault(composition_key(d), []).append(d)
    earlier: dict[tuple, list[Structure]] = {}
    differ = []
    rows = list(zip(new, results, strict=True))
    for pos, ((_, s), res) in enumerate(track(rows, "checking every row", console=console)):
        key = composition_key(s)
        if res.is_duplicate:
            same = sm.fit(s, _as_structure(by_key[res.duplicate_of]))
        else:
            same = any(sm.fit(s, _as_structure(d)) for d in by_comp.get(key, [])) or any(
                sm.fit(s, other) for other in earlier.get(key, [])
            )
        if same != res.is_duplicate:
            differ.append(pos)
        earlier.setdefault(key, []).append(s)
    return differ


def bench_dedupe(regime: str, base: list[Structure], n_stored: int, n_new: int, n_naive: int,
                 stored_fingerprints: bool = True, amd_tol: float | None = None,
                 ) -> dict:  # fmt: skip
    """Index search vs the bucketed-fits baseline on one regime (``spread``/``crowded``)."""
    from genflow.workflows.gate.dedupe import StructureIndex, find_duplicates

    make = make_spread_data if regime == "spread" else make_crowded_data
    t0 = time.perf_counter()
    stored, new = make(base, n_stored, n_new)
    console.print(f"{regime}: {len(new)} new vs {len(stored)} stored "
                  f"(set-up {time.perf_counter() - t0:.0f} s)")  # fmt: skip
    if not stored_fingerprints:
        stored = [(k, d) for k, d, _ in stored]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        index = (
            StructureIndex()
            if amd_tol is None
            else StructureIndex(amd_tol=amd_tol if amd_tol >= 0 else None)
        )
        index.add_many(stored)
        results = find_duplicates(new, index)
        t_index = time.perf_counter() - t0
        t_base, picks, gaps = bucketed_fits_baseline(stored, new, min(n_naive, len(new)))
    # all-pairs StructureMatcher on the sampled rows: a row it calls a duplicate (of a stored
    # or an earlier batch row) that the index passed is a miss
    missed_sampled = sum(gaps[p] is not None and not results[p].is_duplicate for p in picks)
    true_gaps = [g for g in gaps.values() if g is not None]
    # a planted copy is caught if it is flagged, or (batch order being random) if its
    # source row is flagged as a duplicate of it
    by_key = {k: r for (k, _), r in zip(new, results, strict=True)}
    planted = [k for k, _ in new if k.startswith("dup-of-")]
    found = sum(
        by_key[k].is_duplicate
        or by_key.get(k[len("dup-of-") :].rsplit("-", 1)[0], by_key[k]).duplicate_of == k
        for k in planted
    )
    # a planted copy not flagged: would plain StructureMatcher have fitted it to its source?
    sources = {k: d for k, d, *_ in stored} | {k: s for k, s in new}
    missed = [k for k in planted if not by_key[k].is_duplicate and by_key.get(
        k[len("dup-of-") :].rsplit("-", 1)[0], by_key[k]).duplicate_of != k]  # fmt: skip
    sm = StructureMatcher()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differ = baseline_answers(stored, new, results)
        missed_true = sum(
            sm.fit(dict(new)[k], _as_structure(sources[k[len("dup-of-") :].rsplit("-", 1)[0]]))
            for k in missed
        )
    return {
        "regime": regime,
        "planted_missed_that_plain_matcher_fits": missed_true,
        "n_new": len(new),
        "n_stored": len(stored),
        "stored_fingerprints": stored_fingerprints,
        "index_seconds": round(t_index, 2),
        "index_fits": index.n_fits,
        "pairs_pruned_by_lattice_bounds": index.n_pruned,
        "pairs_pruned_by_amd": index.n_pruned_amd,
        "amd_tol": index.amd_tol,
        "sampled_duplicates_all_pairs_matcher": len(true_gaps),
        "sampled_duplicates_missed": missed_sampled,
        "largest_amd_gap_of_fitted_pairs": round(max(true_gaps), 4) if true_gaps else None,
        "duplicates_found": sum(r.is_duplicate for r in results),
        "planted_found": [found, len(planted)],
        "rows_where_index_and_baseline_differ": len(differ),
        "bucketed_fits_seconds_extrapolated": round(t_base, 1),
        "baseline_sample_rows": len(picks),
        # a ratio between different answers is no speed-up: none is printed then
        "speedup_vs_bucketed_fits": round(t_base / t_index, 2) if not differ else None,
        "target_met": t_index < (30 if regime == "crowded" and n_stored <= 40_000 else 60),
    }


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
    parser.add_argument("--n-new", type=int, default=10_000)
    parser.add_argument("--n-stored", type=int, default=40_000)
    parser.add_argument("--n-naive", type=int, default=100, help="baseline sample rows")
    parser.add_argument("--n-relax", type=int, default=24)
    parser.add_argument("--base-limit", type=int, default=None, help="rows per bundled CSV")
    parser.add_argument("--quick", action="store_true", help="10x smaller dedupe, 4 relaxes")
    parser.add_argument("--skip-prerelax", action="store_true")
    parser.add_argument("--relax-model", default="CHGNet", help="MLIP registry key")
    parser.add_argument("--regimes", default="spread,crowded", help="comma-separated")
    parser.add_argument("--no-stored-fp", action="store_true", help="stored rows without one")
    parser.add_argument("--amd-tol", type=float, default=None, help="default: dedupe's; <0: off")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_new, args.n_stored, args.n_naive, args.n_relax = 1000, 4000, 30, 8
        args.base_limit = args.base_limit or 500

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base = load_base(args.base_limit)
    console.print(f"loaded {len(base)} real structures in {time.perf_counter() - t0:.0f} s")
    report = {}
    for regime in filter(None, args.regimes.split(",")):
        report[regime] = bench_dedupe(
            regime,
            base,
            args.n_stored,
            args.n_new,
            args.n_naive,
            not args.no_stored_fp,
            args.amd_tol,
        )
    if not args.skip_prerelax:
        report["prerelax"] = bench_prerelax(base, args.n_relax, args.relax_model)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for regime in filter(None, args.regimes.split(",")):
        d = report[regime]
        print(
            f"dedupe [{regime}] {d['n_new']} new vs {d['n_stored']} stored "
            f"(stored fingerprints: {d['stored_fingerprints']}): {d['index_seconds']} s, "
            f"{d['index_fits']} fits, {d['pairs_pruned_by_lattice_bounds']} pairs pruned by "
            f"lattice bounds, {d['pairs_pruned_by_amd']} by AMD (tol {d['amd_tol']}); "
            f"target met: {d['target_met']}; {d['duplicates_found']} duplicates, "
            f"sampled all-pairs matcher duplicates {d['sampled_duplicates_all_pairs_matcher']}"
            f" missed {d['sampled_duplicates_missed']} (largest AMD gap of a fitted pair "
            f"{d['largest_amd_gap_of_fitted_pairs']}), "
            f"planted found {d['planted_found'][0]}/{d['planted_found'][1]} (missed that "
            f"StructureMatcher fits: {d['planted_missed_that_plain_matcher_fits']}); answers "
            f"differ from the baseline's on {d['rows_where_index_and_baseline_differ']} rows; "
            f"bucketed fits ~{d['bucketed_fits_seconds_extrapolated']} s -> "
            f"x{d['speedup_vs_bucketed_fits']}"
        )
    if p := report.get("prerelax"):
        print(f"pre-relax [{p['model']}, {p['batched_method']}] {p['n_structures']} structures "
              f"(cell + positions, fmax 0.05): batched "
              f"{p['batched_seconds']} s; atomate2 one maker {p['atomate2_one_maker_seconds']} s "
              f"(x{p['speedup_vs_one_maker']}); one atomate2 job each "
              f"{p['atomate2_one_job_each_seconds']} s (x{p['speedup_vs_one_job_each']}); "
              f"max |ΔE| {p['max_energy_difference_meV_per_atom']} meV/atom")  # fmt: skip


if __name__ == "__main__":
    main()
