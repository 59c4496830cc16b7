"""Benchmark: genflow hull scoring vs what a skilled pymatgen user would run.

All three paths score the same candidates against the same reference entries, in one run:

- ``pd-cached``: one pymatgen ``PhaseDiagram`` per distinct chemical system of the candidates,
  built once (from entries grouped by chemical system once) and reused for every candidate
  of that system; ``get_decomp_and_e_above_hull(entry, allow_negative=True,
  check_stable=False)``;
- ``ppd``: one ``PatchedPhaseDiagram`` built once over the reference entries, then
  ``get_decomp_and_e_above_hull(entry, allow_negative=True)`` per candidate;
- ``genflow``: ``ReferenceHull`` built from the same entries (its "build": parsing and the
  chemical-system index), then ``ReferenceHull.score`` on all candidates from strings — *cold*
  (every chemical-system hull built inside the timed call, parse caches cleared) and *warm*
  (second call, hulls cached). ``score`` returns columns (``HullScores``: E_d, hull energy,
  facet vertices and amounts as arrays) and builds a ``HullScore`` per row when one is read;
  *warm+rows* adds building every row's object (decomposition dict, formula, coverage).
  Warm figures are the median of 5 calls; cold and pymatgen's are single passes. Every time
  is reported twice: wall clock and process CPU time (``process_time``), which a loaded,
  shared machine disturbs far less.

Build and scoring are timed separately. The pymatgen side gets its candidate ``PDEntry``
objects prebuilt outside the timing (genflow parses formula strings inside it). Every row is
compared: E_d (max |ΔE_d|) and the decomposition (same reduced formulas, amounts within
1e-6; mismatching rows counted).

Candidates: compositions from MP-20 drawn with replacement (chemical systems recur, as in a
campaign), energy = MP-20 energy + N(0, 50 meV/atom), so rows fall on both sides of the hull.
Reference: the bundled ``mp2021`` rows whose chemical system lies inside some candidate's
system (every entry any candidate's hull can use; ``--full-reference`` takes all 32,436 rows,
which costs ``PatchedPhaseDiagram`` about 4 min to build on one idle core).

``--scale`` (``bench_hull_scale.py``): a synthetic hull of ``--scale-entries`` (400,000)
entries scored with ``--scale-candidates`` (100,000) candidates, hull builds in ``--workers``
(2) processes; how they are made is in ``bench_hull_scale.make_scale_data`` (made once,
cached in ``--scale-dir``); load, scoring and peak RSS are measured in a fresh process.

Usage::

    python benchmarks/bench_hull.py [--n 2000] [--full-reference] [--seed 0]
    python benchmarks/bench_hull.py --scale [--scale-entries 400000] [--scale-candidates 100000]
        [--workers 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # fair single-thread comparison, shared box

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hull_common import clear_parse_caches, decomposition_of, rss_mb, same_decomposition
from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram, PDEntry, PhaseDiagram
from pymatgen.core import Composition

from genflow.core.chem import parse_composition
from genflow.hull import ReferenceHull, load_mp2021

MP20 = Path(__file__).resolve().parents[1] / "tests" / "hull" / "data" / "mp20_energies.csv.gz"


def _now() -> np.ndarray:
    """[wall, CPU] seconds: wall clock and this process's CPU time (the load-robust one)."""
    return np.array([time.perf_counter(), time.process_time()])


def mp20_candidates(hull: ReferenceHull, n: int, rng: np.random.Generator):
    """``n`` MP-20 formulas (with replacement) and energies = MP-20 energy + N(0, 50 meV)."""
    mp20 = pd.read_csv(MP20)
    formulas = mp20["pretty_formula"].tolist()
    base = mp20["formation_energy_per_atom"].to_numpy() - hull.formation_energy(
        formulas, np.zeros(len(formulas))
    )
    ok = np.flatnonzero(np.isfinite(base))
    pick = ok[rng.integers(0, len(ok), size=n)]
    return [formulas[i] for i in pick], base[pick] + rng.normal(0, 0.05, n)


def compare(name: str, scores, answers) -> dict:
    """max |ΔE_d| and decomposition mismatches of genflow scores vs pymatgen answers."""
    diffs = [abs(s.e_d - e_d) for s, (_, e_d) in zip(scores, answers, strict=True)]
    bad = sum(
        not same_decomposition(s.decomposition, d)
        for s, (d, _) in zip(scores, answers, strict=True)
    )
    return {"vs": name, "rows": len(diffs), "max_abs_de_d": max(diffs), "decomp_mismatch": bad}


def fair_run(args: argparse.Namespace) -> None:
    """genflow vs cached per-chemsys ``PhaseDiagram`` vs ``PatchedPhaseDiagram``."""
    rng = np.random.default_rng(args.seed)
    mp2021 = load_mp2021()
    formulas, energies = mp20_candidates(mp2021, args.n, rng)
    systems = [tuple(el for el, _ in parse_composition(f)) for f in formulas]
    if args.full_reference:
        rows = np.arange(len(mp2021))
    else:
        wanted = set(systems)
        rows = np.unique(np.concatenate([mp2021.rows_in(s) for s in wanted]))
    comps = [dict(mp2021._pairs[r]) for r in rows.tolist()]
    ref_e = mp2021.energies[rows]
    ids = [mp2021.ids[r] for r in rows.tolist()]
    entries = [
        PDEntry(Composition(c), float(e) * Composition(c).num_atoms, name=i)
        for c, e, i in zip(comps, ref_e, ids, strict=True)
    ]
    cand_entries = [
        PDEntry(Composition(f), float(e) * Composition(f).num_atoms)
        for f, e in zip(formulas, energies, strict=True)
    ]
    print(
        f"reference: {len(rows)} of {len(mp2021)} mp2021 entries; candidates: {len(formulas)} "
        f"in {len(set(systems))} chemical systems; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores",
        flush=True,
    )
    t = {}

    # genflow
    t0 = _now()
    hull = ReferenceHull(comps, ref_e, ids=ids, name="bench")
    t["genflow build"] = _now() - t0
    clear_parse_caches()
    t0 = _now()
    scores = hull.score(formulas, energies)
    t["genflow cold"] = _now() - t0
    list(scores)  # first read builds the coverage index and reference formulas once
    # Warm: median of 5 calls (single calls are short and a shared box disturbs them unevenly).
    # HullScores are columns; a HullScore per row is built on read: warm+rows times that too.
    warm_s, rows_s = [], []
    for _ in range(5):
        t0 = _now()
        warm = hull.score(formulas, energies)
        warm_s.append(_now() - t0)
        list(warm)
        rows_s.append(_now() - t0)
    t["genflow warm"], t["genflow warm+rows"] = np.median(warm_s, axis=0), np.median(rows_s, axis=0)
    assert all(s.ok for s in scores), [s.error for s in scores if not s.ok][:3]
    assert [s.e_d for s in warm] == [s.e_d for s in scores]

    # pymatgen, one cached PhaseDiagram per chemical system
    t0 = _now()
    by_system: dict[frozenset, list[PDEntry]] = {}
    for e in entries:
        by_system.setdefault(frozenset(e.composition.chemical_system.split("-")), []).append(e)
    pds = {}
    for s in set(systems):
        space = frozenset(s)
        pds[s] = PhaseDiagram([e for k, v in by_system.items() if k <= space for e in v])
    t["pd-cached build"] = _now() - t0
    print(f"pd-cached: {len(pds)} diagrams built in {t['pd-cached build'][0]:.1f} s", flush=True)
    t0 = _now()
    pd_answers = [
        pds[s].get_decomp_and_e_above_hull(e, allow_negative=True, check_stable=False)
        for s, e in zip(systems, cand_entries, strict=True)
    ]
    t["pd-cached score"] = _now() - t0

    # pymatgen, PatchedPhaseDiagram
    t0 = _now()
    ppd = PatchedPhaseDiagram(entries)
    t["ppd build"] = _now() - t0
    print(f"ppd: built in {t['ppd build'][0]:.1f} s ({len(ppd.pds)} patches)", flush=True)
    # A candidate whose system no patch covers (no reference entry spans it) makes pymatgen
    # fall back to an SLSQP minimisation: timed apart, so the patch lookup is judged alone.
    spaces = [frozenset(str(el) for el in space) for space in ppd.pds]
    patched = [any(space >= frozenset(s) for space in spaces) for s in systems]
    ppd_answers, per_row = [], []
    # one "No suitable PhaseDiagrams ... SLSQP" warning per such row: counted below instead
    warnings.filterwarnings("ignore", message="No suitable PhaseDiagrams")
    t0 = _now()
    for e in cand_entries:
        ppd_answers.append(ppd.get_decomp_and_e_above_hull(e, allow_negative=True))
        per_row.append(_now())
    t["ppd score"] = per_row[-1] - t0
    row_s = np.diff(np.stack([t0, *per_row]), axis=0)  # (rows, [wall, cpu])
    covered = np.asarray(patched)
    t["ppd patched"] = row_s[covered].sum(axis=0) / max(covered.sum(), 1) * len(covered)

    n = len(formulas)
    for col, clock in enumerate(("wall", "CPU")):
        print(f"\n{clock} time ({'perf_counter' if col == 0 else 'process_time'}):")
        print(f"{'path':<18}{'build s':>9}{'score s':>9}{'ms/cand':>9}")
        for side in ("genflow cold", "genflow warm", "genflow warm+rows", "pd-cached", "ppd"):
            build = t["genflow build"] if side.startswith("genflow") else t[f"{side} build"]
            score = t[side] if side.startswith("genflow") else t[f"{side} score"]
            print(f"{side:<18}{build[col]:>9.2f}{score[col]:>9.2f}{score[col] / n * 1e3:>9.4f}")
        slsqp = len(covered) - int(covered.sum())
        print(
            f"ppd: {slsqp} candidates in systems no patch covers (SLSQP fallback, "
            f"{row_s[~covered, col].sum():.2f} s); patched rows alone "
            f"{t['ppd patched'][col] / n * 1e3:.4f} ms/cand"
        )
        print("scoring ratios (pymatgen ms/candidate ÷ genflow ms/candidate, builds excluded):")
        for base in ("pd-cached", "ppd", "ppd patched"):
            for side in ("genflow cold", "genflow warm", "genflow warm+rows"):
                key = base if base == "ppd patched" else f"{base} score"
                print(f"  {base:<11} / {side:<17} {t[key][col] / t[side][col]:8.1f}x")
        total_g = t["genflow build"][col] + t["genflow cold"][col]
        print("build + score (one pass over the candidates):")
        for base in ("pd-cached", "ppd"):
            total = t[f"{base} build"][col] + t[f"{base} score"][col]
            ratio = total / total_g
            print(f"  {base:<10} {total:8.1f} s vs genflow {total_g:6.2f} s: {ratio:8.1f}x")
    print("\nanswers, every row:")
    for name, answers in (("pd-cached", pd_answers), ("ppd", ppd_answers)):
        c = compare(name, scores, [(decomposition_of(d), e) for d, e in answers])
        print(
            f"  genflow vs {c['vs']:<10} rows {c['rows']}, max |dE_d| {c['max_abs_de_d']:.1e} "
            f"eV/atom, decomposition mismatches {c['decomp_mismatch']}"
        )
    print(f"  stable {sum(s.is_stable for s in scores)} of {n}")
    print(f"peak RSS {rss_mb():.0f} MB; load average now {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="candidates (fair run)")
    parser.add_argument("--full-reference", action="store_true", help="all mp2021 rows")
    parser.add_argument("--scale", action="store_true", help="the large synthetic hull run")
    parser.add_argument("--scale-entries", type=int, default=400_000)
    parser.add_argument("--scale-candidates", type=int, default=100_000)
    parser.add_argument("--scale-dir", help="where the synthetic data is cached")
    parser.add_argument("--scale-measure", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=2, help="hull-build processes in --scale (2 cores)"
    )
    args = parser.parse_args()
    from bench_hull_scale import scale_measure, scale_run  # the --scale half of this benchmark

    if args.scale_measure:
        scale_measure(Path(args.scale_measure), args.seed, args.workers)
    elif args.scale:
        scale_run(args)
    else:
        fair_run(args)


if __name__ == "__main__":
    main()
