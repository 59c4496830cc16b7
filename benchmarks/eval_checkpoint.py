"""Table 1 columns for a generator checkpoint, next to the paper's numbers.

Draws ``--n`` unconditional samples (and ``--n-cond`` samples conditioned on the exact
compositions of random rows of the checkpoint's reference split), scores them with
:func:`genflow.model.validity.validity_report` (CDVAE's definitions: min distance ≥ 0.5 Å and
a sane cell; SMACT charge neutrality + Pauling test), and prints the columns this repository
can compute — structure and composition validity — beside Yang et al. (2023), Table 1
(UniMat row). With ``--proxy N`` the unconditional samples also get CDVAE's coverage and
property-statistics columns (COV-R/P, AMSD/AMCD, Wasserstein of density and of the number of
elements) against the first ``N`` rows of the test split, through
:func:`genflow.evaluation.proxy.proxy_metrics` (the same code as ``genflow eval proxy``). The
reference rows are scored too: the ceiling the same checks give real crystals. Atom counts of
the unconditional samples are compared with the reference split's.

Usage: ``python benchmarks/eval_checkpoint.py [perov5|carbon24|mp20|DIR] [--n 256]
[--n-cond 0] [--steps 256] [--proxy 1000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np

from genflow.model import load_generator
from genflow.model.data import load_dataset
from genflow.model.validity import validity_report

# Yang et al. 2023, Table 1, UniMat: structure / composition validity (%); Carbon-24 has no
# composition column (one element).
PAPER_TABLE1 = {
    "perov_5": {"structure_validity": 1.0, "composition_validity": 0.988},
    "carbon_24": {"structure_validity": 1.0, "composition_validity": None},
    "mp_20": {"structure_validity": 0.972, "composition_validity": 0.894},
}


def _histogram(counts) -> dict[int, float]:
    c = Counter(int(x) for x in counts)
    n = sum(c.values())
    return {k: round(v / n, 4) for k, v in sorted(c.items())}


def _proxy(samples: list, source: str, n_ref: int) -> dict:
    """CDVAE's coverage and Wasserstein columns of ``samples`` against ``n_ref`` test rows."""
    from genflow.evaluation.proxy import proxy_metrics
    from genflow.evaluation.sets import StructureSet, load_set

    gen = StructureSet(
        name="unconditional",
        keys=tuple(str(i) for i in range(len(samples))),
        structures=tuple(samples),
        errors=(None,) * len(samples),
        energies=(None,) * len(samples),
    )
    ref = load_set(f"{source}:test", limit=n_ref)
    keep = ("cov_recall", "cov_precision", "amsd_recall", "amsd_precision", "amcd_recall",
            "amcd_precision", "wdist_density", "wdist_num_elems", "uniqueness", "novelty",
            "n_reference", "cov_cutoffs")  # fmt: skip
    out = proxy_metrics(gen, ref, progress=False)
    return {k: out[k] for k in keep if k in out}


def evaluate(
    checkpoint: str | None,
    *,
    n: int,
    n_cond: int,
    steps: int | None,
    seed: int,
    batch: int,
    proxy: int = 0,
) -> dict:
    """Sample, score and return the Table 1 comparison as a dict."""
    gen = load_generator(checkpoint)
    source = str(gen.config.data.source)
    ref = load_dataset(f"{source}:test")
    out: dict = {
        "checkpoint": str(gen.path),
        "checkpoint_hash": gen.checkpoint_hash,
        "step": gen.step,
        "dataset": source,
        "num_steps": steps or int(gen.config.diffusion.num_steps),
        "seed": seed,
        "paper_table1_unimat": PAPER_TABLE1.get(source),
    }
    if n:
        t = time.time()
        uncond = gen.sample(n, seed=seed, num_steps=steps, batch_size=batch)
        report = validity_report(uncond).as_dict()
        report["seconds"] = time.time() - t
        report["atom_count_histogram"] = _histogram(len(s) for s in uncond)
        report["reference_atom_count_histogram"] = _histogram(len(s) for s in ref.structures)
        report["mean_elements"] = float(np.mean([len(s.composition.elements) for s in uncond]))
        if proxy:
            t = time.time()
            report["proxy"] = _proxy(uncond, source, proxy)
            report["proxy"]["seconds"] = time.time() - t
        out["unconditional"] = report
    if n_cond:
        rng = np.random.default_rng(seed)
        # rows with more atoms of one element than the table depth L cannot be conditioned on
        fits = [i for i, s in enumerate(ref.structures)
                if max(s.composition.values()) <= gen.max_atoms]  # fmt: skip
        picks = rng.choice(fits, size=min(n_cond, len(fits)), replace=False)
        comps = [ref.structures[i].composition for i in picks]
        out["conditioning_rows_beyond_L"] = len(ref) - len(fits)
        t = time.time()
        cond = gen.sample(
            n_cond, composition=comps, seed=seed + 1, num_steps=steps, batch_size=batch
        )
        report = validity_report(cond).as_dict()
        report["seconds"] = time.time() - t
        report["exact_composition_fraction"] = float(
            np.mean([s.composition == c for s, c in zip(cond, comps, strict=True)])
        )
        out["composition_conditioned"] = report
        out["reference_rows"] = validity_report([ref.structures[i] for i in picks]).as_dict()
    return out


def _table(out: dict) -> str:
    paper = out["paper_table1_unimat"] or {}
    lines = [
        f"{out['dataset']} @ step {out['step']} ({out['num_steps']} sampling steps)",
        f"{'mode':<26}{'n':>5}{'structure':>11}{'composition':>13}{'paper struct':>14}"
        f"{'paper comp':>12}",
    ]
    for mode in ("unconditional", "composition_conditioned", "reference_rows"):
        if mode not in out:
            continue
        r = out[mode]
        ps = paper.get("structure_validity") if mode == "unconditional" else None
        pc = paper.get("composition_validity") if mode == "unconditional" else None
        lines.append(
            f"{mode:<26}{r['n']:>5}{r['structure_validity']:>11.3f}"
            f"{r['composition_validity']:>13.3f}"
            f"{'' if ps is None else f'{ps:.3f}':>14}{'' if pc is None else f'{pc:.3f}':>12}"
        )
    if "unconditional" in out:
        u = out["unconditional"]
        lines.append(f"atoms per sample: {u['atom_count_histogram']}")
        lines.append(f"atoms per reference crystal: {u['reference_atom_count_histogram']}")
        if "proxy" in u:
            p = u["proxy"]
            lines.append(
                f"vs {p['n_reference']} test rows: COV-R {p['cov_recall']:.3f} "
                f"COV-P {p['cov_precision']:.3f}  W(density) {p['wdist_density']:.3f} "
                f"W(#elements) {p['wdist_num_elems']:.3f}  cutoffs {p['cov_cutoffs']}"
            )
    return "\n".join(lines)


def main() -> dict:
    """Parse arguments, evaluate, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", default=None, help="name or dir (default perov5)")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--n-cond", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0, help="0 = config value (256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--proxy", type=int, default=0, help="COV/W columns vs N test rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = evaluate(
        args.checkpoint,
        n=args.n,
        n_cond=args.n_cond,
        steps=args.steps or None,
        seed=args.seed,
        batch=args.batch,
        proxy=args.proxy,
    )
    print(json.dumps(out, indent=1) if args.json else _table(out), flush=True)
    return out


if __name__ == "__main__":
    main()
