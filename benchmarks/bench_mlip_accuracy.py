"""Benchmark MLIP accuracy against DFT on MP-20, and calibrate the gate's E_d pre-screen.

1. Accuracy (issue 10, "measure before choosing defaults"). ``--n`` MP-20 rows (default 20,
   at most ``--max-atoms`` = 8 atoms in the CIF cell, a seeded random sample of the bundled
   ``mp_20:test`` split) are relaxed and then evaluated single-point with each ``--models``
   entry through the ``mlip`` engine: ``relax_static_maker("mlip", force_field=model)``, each
   maker's undecorated ``make`` called per structure (as ``workflows/gate/prerelax.py`` does;
   the calculator is loaded once, before the clock starts). Energies go onto the MP2020 scale
   with ``mp_compatible_energy`` (CHGNet as is, SevenNet through
   ``MaterialsProject2020Compatibility``) and are scored against ``mp2021``.

   Reported per model: MAE of E_d against MP-20's DFT ``e_above_hull``, MAE of the formation
   energy against MP-20's ``formation_energy_per_atom``, classification, and seconds per
   structure (relax + static, model load excluded, printed separately).

   Conventions. DFT *stable*: ``e_above_hull == 0`` (MP-20's field, an MP hull vertex);
   predicted stable: ``E_d <= 0`` on ``mp2021``. DFT *metastable*: ``e_above_hull < 0.025``;
   predicted: ``E_d < 0.025`` eV/atom. Caveat: these rows are MP materials, so ``mp2021``
   contains them (or their DFT energy): for a DFT hull vertex ``E_d = E_MLIP - E_DFT`` and
   "predicted stable" means "the MLIP lands at or below DFT". The classification numbers are
   therefore about the MLIP's energy error near the hull, not a discovery benchmark on unseen
   materials like Matbench Discovery's F1.

2. Pre-screen calibration (``--calibrate``, on by default; ``--no-calibrate`` skips it): the
   gate's pre-relax (``prerelax_structures``, default pre-relax model, batched) on the same rows,
   E_d on ``mp2021``, and for each ``--thresholds`` value (meV/atom) the fraction of DFT-stable
   (and DFT-metastable) rows a ``gate.prescreen_max_ed`` at that value would discard, and the
   fraction of relaxations (rows) it saves.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_mlip_accuracy.py [--n 20] [--json]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd


def sample_rows(n: int, max_atoms: int, seed: int, split: str) -> list[dict]:
    """``n`` seeded random MP-20 rows of at most ``max_atoms`` atoms (CIF cell), parsed."""
    from importlib.resources import files

    from genflow.model.data import parse_cif

    path = files("genflow.model") / "data" / "mp_20" / f"{split}.csv.gz"
    with gzip.open(str(path), "rt") as fh:
        df = pd.read_csv(fh)
    order = np.random.default_rng(seed).permutation(len(df))
    rows = []
    for i in order:
        r = df.iloc[int(i)]
        try:
            s = parse_cif(r["cif"])
        except ValueError:
            continue
        if len(s) > max_atoms:
            continue
        rows.append({
            "id": r["material_id"], "formula": r["pretty_formula"], "structure": s,
            "e_hull": float(r["e_above_hull"]), "e_form": float(r["formation_energy_per_atom"]),
        })  # fmt: skip
        if len(rows) == n:
            break
    return rows


def relax_static(rows: list[dict], model: str) -> dict:
    """Relax + static each row with ``model`` on the mlip engine; MP2020-scale energies."""
    from genflow.workflows.energies import mp_compatible_energy
    from genflow.workflows.relax import relax_static_maker, shared_calculator

    maker = relax_static_maker("mlip", force_field=model)
    relax, static = maker.relax_maker, maker.static_maker
    t0 = time.perf_counter()
    shared_calculator(relax)  # load the weights once, outside the per-structure clock
    load_s = time.perf_counter() - t0
    run_relax, run_static = type(relax).make.original, type(static).make.original
    energies, corrections, times, errors = [], [], [], []
    for row in rows:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rdoc = run_relax(relax, row["structure"])
                sdoc = run_static(static, rdoc.output.structure)
                energy = mp_compatible_energy(sdoc, "mlip")
            if not energy.mp_compatible:
                raise ValueError(energy.reason)
            energies.append(energy.energy_per_atom)
            corrections.append(energy.correction_per_atom)
            errors.append(None)
        except Exception as exc:  # one bad row must not stop the benchmark
            energies.append(math.nan)
            corrections.append(0.0)
            errors.append(f"{type(exc).__name__}: {exc}")
        times.append(time.perf_counter() - t0)
    return {"energy": energies, "correction": corrections, "time": times, "error": errors,
            "load_s": load_s}  # fmt: skip


def score(rows: list[dict], energies: list[float], hull) -> tuple[np.ndarray, np.ndarray]:
    """E_d and E_f (eV/atom) on ``hull``; NaN where unscorable."""
    ok = [i for i, e in enumerate(energies) if math.isfinite(e)]
    e_d = np.full(len(rows), np.nan)
    e_f = np.full(len(rows), np.nan)
    scores = hull.score([rows[i]["structure"].composition for i in ok], [energies[i] for i in ok])
    for i, sc in zip(ok, scores, strict=True):
        if sc.error is None and sc.e_d is not None:
            e_d[i], e_f[i] = sc.e_d, sc.e_form
    return e_d, e_f


def prf(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 of boolean predictions (NaN when undefined)."""
    tp = float(np.sum(pred & true))
    p = tp / pred.sum() if pred.sum() else math.nan
    r = tp / true.sum() if true.sum() else math.nan
    f = 2 * p * r / (p + r) if p + r > 0 else math.nan
    return p, r, f


def dft_on_hull(rows: list[dict], hull) -> np.ndarray:
    """E_d of MP-20's own DFT energy on ``hull`` (E = E_f + sum x_i mu_i, MP2020 scale).

    Where this differs from ``e_above_hull`` the reference hull, not the MLIP, is off (a
    phase ``hull`` lacks): :func:`metrics` reports MLIP errors against both.
    """
    energies = []
    for r in rows:
        comp = r["structure"].composition.fractional_composition
        els = [el.symbol for el in comp.elements]
        try:
            mu = hull.chemical_potentials(els)
        except KeyError:
            energies.append(math.nan)
            continue
        energies.append(r["e_form"] + float(np.dot([comp[e] for e in els], mu)))
    return score(rows, energies, hull)[0]


def metrics(rows: list[dict], e_d: np.ndarray, e_f: np.ndarray, e_d_dft: np.ndarray) -> dict:
    e_hull = np.array([r["e_hull"] for r in rows])
    e_form = np.array([r["e_form"] for r in rows])
    ok = np.isfinite(e_d)
    both = ok & np.isfinite(e_d_dft)
    out = {
        "n_scored": int(ok.sum()),
        "mae_ed": float(np.mean(np.abs(e_d[ok] - e_hull[ok]))),
        "mean_ed_minus_ehull": float(np.mean(e_d[ok] - e_hull[ok])),
        "mae_ed_vs_dft_on_hull": float(np.mean(np.abs(e_d[both] - e_d_dft[both]))),
        "mae_ef": float(np.nanmean(np.abs(e_f[ok] - e_form[ok]))),
    }
    for name, pred, true in (
        ("stable", e_d[ok] <= 0.0, e_hull[ok] <= 0.0),
        ("metastable", e_d[ok] < 0.025, e_hull[ok] < 0.025),
    ):
        p, r, f = prf(pred, true)
        out[name] = {"precision": p, "recall": r, "f1": f, "n_true": int(true.sum()),
                     "n_pred": int(pred.sum())}  # fmt: skip
    return out


def calibrate(rows: list[dict], hull, model: str, thresholds_mev: list[float]) -> dict:
    """Gate pre-relax E_d of ``rows`` and the pre-screen's losses/savings per threshold."""
    from genflow.workflows.gate.prerelax import prerelax_structures

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = prerelax_structures([r["structure"] for r in rows], model=model)
    wall = time.perf_counter() - t0
    energies = [r.energy_per_atom if r.error is None else math.nan for r in res]
    e_d, _ = score(rows, energies, hull)
    e_hull = np.array([r["e_hull"] for r in rows])
    ok = np.isfinite(e_d)
    stable, meta = (e_hull <= 0) & ok, (e_hull < 0.025) & ok
    sweep = []
    for t in thresholds_mev:
        rejected = ok & (e_d > t / 1000)
        sweep.append({
            "threshold_mev": t,
            "stable_discarded": float(np.sum(rejected & stable) / max(stable.sum(), 1)),
            "metastable_discarded": float(np.sum(rejected & meta) / max(meta.sum(), 1)),
            "relaxations_saved": float(rejected.sum() / max(ok.sum(), 1)),
        })  # fmt: skip
    return {"model": model, "wall_s": wall, "n_scored": int(ok.sum()),
            "n_stable": int(stable.sum()), "n_metastable": int(meta.sum()),
            "mae_ed": float(np.mean(np.abs(e_d[ok] - e_hull[ok]))), "sweep": sweep,
            "e_d": e_d.tolist()}  # fmt: skip


def main() -> None:
    from genflow.workflows.mlips import DEFAULT_PRERELAX_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="MP-20 rows")
    parser.add_argument("--max-atoms", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--models", default="CHGNet,7net-l3i5", help="comma-separated")
    parser.add_argument("--hull", default="mp2021")
    parser.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--prescreen-model", default=DEFAULT_PRERELAX_MODEL)
    parser.add_argument("--thresholds", default="0,25,50,100,200", help="meV/atom")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from genflow.hull import load_hull

    rows = sample_rows(args.n, args.max_atoms, args.seed, args.split)
    hull = load_hull(args.hull)
    e_hull = np.array([r["e_hull"] for r in rows])
    print(f"{len(rows)} MP-20 {args.split} rows (seed {args.seed}, <= {args.max_atoms} atoms): "
          f"{int((e_hull <= 0).sum())} DFT-stable, {int((e_hull < 0.025).sum())} below 25 meV/atom;"
          f" hull {args.hull}; torch threads 1")  # fmt: skip
    e_d_dft = dft_on_hull(rows, hull)
    gap = np.abs(e_d_dft - e_hull) > 0.025
    gaps = ", ".join(
        f"{r['id']} {1000 * (d - r['e_hull']):+.0f}"
        for r, d, g in zip(rows, e_d_dft, gap, strict=True)
        if g
    )
    print(
        f"MP-20 DFT energies on {args.hull}: {int(gap.sum())} of {len(rows)} rows have "
        f"|E_d(DFT) - e_above_hull| > 25 meV/atom (hull gaps, meV/atom: {gaps})"
    )
    report: dict = {"rows": [r["id"] for r in rows], "e_d_dft": e_d_dft.tolist(), "models": {}}
    for model in args.models.split(","):
        run = relax_static(rows, model)
        e_d, e_f = score(rows, run["energy"], hull)
        m = metrics(rows, e_d, e_f, e_d_dft)
        m.update(load_s=run["load_s"], s_per_structure=float(np.mean(run["time"])),
                 errors=[(rows[i]["id"], e) for i, e in enumerate(run["error"]) if e],
                 e_d=e_d.tolist())  # fmt: skip
        report["models"][model] = m
        print(f"  {model}: done, {m['s_per_structure']:.2f} s/structure", flush=True)

    print(
        "\nmodel | MAE E_d vs e_above_hull | mean E_d - e_hull | MAE E_d vs DFT on hull "
        "| MAE E_f | stable P/R/F1 "
        "| metastable (<25 meV) P/R/F1 | s/structure (load) | failed"
    )
    for model, m in report["models"].items():
        s, ms = m["stable"], m["metastable"]
        bias = 1000 * m["mean_ed_minus_ehull"]
        print(
            f"{model} | {1000 * m['mae_ed']:.1f} meV/atom | {bias:+.1f}"
            f" | {1000 * m['mae_ed_vs_dft_on_hull']:.1f} | {1000 * m['mae_ef']:.1f}"
            f" | {s['precision']:.2f}/{s['recall']:.2f}/{s['f1']:.2f}"
            f" | {ms['precision']:.2f}/{ms['recall']:.2f}/{ms['f1']:.2f}"
            f" | {m['s_per_structure']:.2f} ({m['load_s']:.1f} s) | {len(m['errors'])}"
        )
        for rid, err in m["errors"]:
            print(f"   failed {rid}: {err[:160]}")

    if args.calibrate:
        thresholds = [float(t) for t in args.thresholds.split(",")]
        cal = calibrate(rows, hull, args.prescreen_model, thresholds)
        report["calibration"] = cal
        print(
            f"\npre-screen calibration: gate pre-relax with {cal['model']} (batched), "
            f"{cal['wall_s'] / max(len(rows), 1):.2f} s/structure, MAE E_d "
            f"{1000 * cal['mae_ed']:.1f} meV/atom; {cal['n_stable']} DFT-stable, "
            f"{cal['n_metastable']} DFT < 25 meV/atom of {cal['n_scored']} scored"
        )
        print(
            "max E_d (meV/atom) | DFT-stable discarded | DFT-metastable discarded | "
            "relaxations saved"
        )
        for row in cal["sweep"]:
            print(
                f"{row['threshold_mev']:g} | {100 * row['stable_discarded']:.0f} % | "
                f"{100 * row['metastable_discarded']:.0f} % | "
                f"{100 * row['relaxations_saved']:.0f} %"
            )
    if args.json:
        print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
