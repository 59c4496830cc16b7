"""``bench_hull.py --scale``: a synthetic GNoME-sized hull and 10^5 candidates.

Run through ``bench_hull.py --scale`` (see its docstring); this module holds the data recipe
(``make_scale_data``) and the measurement, which runs in a fresh process so that peak RSS
and timings start clean.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from hull_common import clear_parse_caches, decomposition_of, rss_mb, same_decomposition
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from genflow.core.chem import parse_composition
from genflow.hull import load_mp2021, load_reference_file

T = TypeVar("T")


def random_compositions(systems: list[tuple[str, ...]], rng: np.random.Generator, n: int):
    """``n`` compositions: a chemical system drawn from ``systems``, amounts uniform in 1..8."""
    pick = rng.integers(0, len(systems), size=n)
    out = []
    for i in pick.tolist():
        s = systems[i]
        amounts = rng.integers(1, 9, size=len(s)).tolist()
        out.append("".join(f"{el}{a}" for el, a in zip(s, amounts, strict=True)))
    return out


def make_scale_data(args: argparse.Namespace, folder: Path) -> None:
    """Write the synthetic hull (``hull.csv``) and candidates (``candidates.csv``).

    Synthetic hull, built from the bundled ``mp2021`` (32,436 entries, MP2020 scheme):

    1. every ``mp2021`` entry as is;
    2. ``new`` = 45 % of the total: new compositions in ``mp2021``'s chemical systems — a
       multi-element ``mp2021`` row drawn uniformly, integer amounts 1..8 per element,
       energy = the ``mp2021`` hull energy at that composition + N(+50, 100 meV/atom), so
       about 31 % land below the ``mp2021`` hull and reshape it (GNoME-like new vertices);
    3. the rest: perturbed copies (polymorphs) of rows of 1 and 2 drawn uniformly, energy +
       Exponential(mean 100 meV/atom) above the copied row.

    Candidates: the same recipe as 2 over the distinct multi-element chemical systems of
    ``mp2021``, energy = ``mp2021`` hull energy + N(0, 100 meV/atom).
    """
    rng = np.random.default_rng(args.seed)
    total, n_cand = args.scale_entries, args.scale_candidates
    t0 = time.perf_counter()
    mp = load_mp2021()
    # explicit amounts: pandas would read sodium nitride's "NaN" as a missing value
    base_f = ["".join(f"{el}{a:g}" for el, a in p) for p in mp._pairs]
    multi = [s for s in mp.chemsys if len(s) > 1]
    n_new = int(0.45 * total)
    new_f = random_compositions(multi, rng, n_new)
    offset = rng.normal(0.05, 0.10, n_new)
    new_e = -np.asarray([s.e_d for s in mp.score(new_f, np.zeros(n_new))]) + offset
    all_f = base_f + new_f
    all_e = np.concatenate([mp.energies, new_e])
    n_copy = total - len(all_f)
    src = rng.integers(0, len(all_f), size=n_copy)
    table = pd.DataFrame(
        {
            "composition": all_f + [all_f[i] for i in src.tolist()],
            "energy_per_atom": np.concatenate([all_e, all_e[src] + rng.exponential(0.10, n_copy)]),
        }
    )
    cand_f = random_compositions(sorted(set(multi)), rng, n_cand)
    cand_e = -np.asarray([s.e_d for s in mp.score(cand_f, np.zeros(n_cand))])
    cand_e += rng.normal(0, 0.10, n_cand)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"composition": cand_f, "energy_per_atom": cand_e}).to_csv(
        folder / "candidates.csv", index=False
    )
    table.to_csv(folder / "hull.csv", index=False)
    print(
        f"synthetic hull: {len(mp)} mp2021 + {n_new} new compositions "
        f"({(offset < 0).mean():.0%} below the mp2021 hull) + {n_copy} perturbed copies "
        f"= {len(table)} entries; {n_cand} candidates (made in {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )


def scale_run(args: argparse.Namespace) -> None:
    """Make the data once (cached in ``--scale-dir``), then measure in a fresh process."""
    folder = Path(
        args.scale_dir
        or Path(tempfile.gettempdir())
        / f"genflow-bench-hull-{args.scale_entries}-{args.scale_candidates}-{args.seed}"
    )
    if not (folder / "hull.csv").is_file():
        make_scale_data(args, folder)
    print(f"data in {folder}", flush=True)
    main = str(Path(__file__).with_name("bench_hull.py"))
    cmd = [sys.executable, main, "--scale-measure", str(folder), "--workers", str(args.workers)]
    subprocess.run(cmd, check=True)


def _cpu_s() -> float:
    """CPU seconds of this process plus its finished children (the hull-build workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(step: Callable[[], T]) -> tuple[T, float, float]:
    """``step()``'s value, and its wall and CPU seconds (``_cpu_s``: workers included)."""
    t0, c0 = time.perf_counter(), _cpu_s()
    out = step()
    return out, time.perf_counter() - t0, _cpu_s() - c0


def scale_measure(folder: Path, seed: int, workers: int) -> None:
    """Load the synthetic hull and score the candidates: times, peak RSS, a pymatgen check.

    Peak memory is ``getrusage`` max RSS of this fresh process, after imports, after the
    load and after scoring, and the largest of its worker processes. Times are wall clock
    and CPU (this process and its workers; on a shared machine the CPU time says what the
    work costs, the wall time what this run waited).
    """
    rss = {"imports": rss_mb()}
    cands = pd.read_csv(folder / "candidates.csv")
    cand_f, cand_e = cands["composition"].tolist(), cands["energy_per_atom"].to_numpy()
    n_cand = len(cand_f)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    big, load_s, load_c = _timed(lambda: load_reference_file(folder / "hull.csv"))
    rss["load"] = rss_mb()
    print(
        f"load: {len(big)} entries in {load_s:.1f} s wall, {load_c:.1f} s CPU "
        f"(CSV, parsing, index); load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    clear_parse_caches()
    scores, cold_s, cold_c = _timed(lambda: big.score(cand_f, cand_e, workers=workers))
    rss["cold score"] = rss_mb()
    print(
        f"cold ({workers} worker(s)): {cold_s:.1f} s wall, {cold_c:.1f} s CPU; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    warm, warm_s, warm_c = _timed(lambda: big.score(cand_f, cand_e))
    rss["warm score"] = rss_mb()
    t0 = time.perf_counter()
    rows = list(warm)
    rows_s = time.perf_counter() - t0
    rss["rows built"] = rss_mb()
    assert np.array_equal(warm.e_d, scores.e_d, equal_nan=True)
    print(
        f"warm: {warm_s:.1f} s wall, {warm_c:.1f} s CPU; building all {len(rows)} HullScore "
        f"rows: {rows_s:.1f} s wall",
        flush=True,
    )
    systems = {tuple(el for el, _ in parse_composition(f)) for f in cand_f}
    print(
        f"score {n_cand} candidates ({len(systems)} chemical systems, {big.cached_systems} "
        f"hulls cached): cold {cold_s:.1f} s ({cold_s / n_cand * 1e3:.3f} ms/cand), warm "
        f"{warm_s:.1f} s ({warm_s / n_cand * 1e3:.3f} ms/cand); failed rows "
        f"{sum(not s.ok for s in scores)}; stable {sum(s.is_stable for s in scores)}",
        flush=True,
    )
    print("peak RSS (MB) after " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest worker process peak RSS {kids:.0f} MB" if workers > 1 else "no workers")
    rng = np.random.default_rng(seed)
    sample = rng.choice(n_cand, size=min(200, n_cand), replace=False).tolist()
    worst, bad = 0.0, 0
    for i in sample:
        comp = Composition(cand_f[i])
        pd_ = big.phase_diagram([el.symbol for el in comp.elements])
        decomp, e_d = pd_.get_decomp_and_e_above_hull(
            PDEntry(comp, float(cand_e[i]) * comp.num_atoms), allow_negative=True
        )
        worst = max(worst, abs(e_d - scores[i].e_d))
        bad += not same_decomposition(scores[i].decomposition, decomposition_of(decomp))
    print(
        f"sample of {len(sample)} vs pymatgen PhaseDiagram of the big hull's entries: "
        f"max |dE_d| {worst:.1e} eV/atom, decomposition mismatches {bad}"
    )
    print(f"load average now {os.getloadavg()[0]:.1f}")
