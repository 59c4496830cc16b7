"""Sample quality of a StructRepDiff checkpoint: validity of reconstructed samples.

Draws ``--n`` unconditional samples and ``--n-cond`` samples conditioned on the compositions of
random Perov-5 test rows, reconstructs them (``--trials/--hops/--iters``) and reports CDVAE
structure validity (min distance ≥ 0.5 Å, sane cell), SMACT composition validity, the fraction
with 5 atoms (every Perov-5 crystal has 5), the mean reconstruction loss and the time.

    python benchmarks/eval_structrepdiff.py --checkpoint structrepdiff-perov5 --n 8 --n-cond 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from genflow.model import load_generator
from genflow.model.data import load_dataset
from genflow.model.structrepdiff import ReconSettings
from genflow.model.validity import smact_validity, structure_validity


def report(structures) -> dict:
    """Validity fractions and simple composition statistics."""
    s_ok = [structure_validity(s)[0] for s in structures]
    c_ok = [len(s.composition.elements) <= 6 and smact_validity(s.composition) for s in structures]
    return {
        "n": len(structures),
        "structure_validity": float(np.mean(s_ok)),
        "composition_validity": float(np.mean(c_ok)),
        "overall_validity": float(np.mean([a and b for a, b in zip(s_ok, c_ok, strict=True)])),
        "n_atoms_5_fraction": float(np.mean([len(s) == 5 for s in structures])),
        "mean_recon_loss": float(np.mean([s.properties["recon_loss"] for s in structures])),
        "formulas": [s.composition.reduced_formula for s in structures],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="structrepdiff-perov5")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--n-cond", type=int, default=8)
    ap.add_argument("--steps", type=int, default=0, help="0 = config value (2000)")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--hops", type=int, default=7)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    gen = load_generator(args.checkpoint)
    recon = ReconSettings(trials=args.trials, hops=args.hops, iters=args.iters)
    steps = args.steps or None
    out: dict = {"checkpoint_hash": gen.checkpoint_hash, "step": gen.step, **vars(args)}
    if args.n:
        t = time.time()
        out["unconditional"] = report(
            gen.sample(args.n, seed=args.seed, num_steps=steps, recon=recon)
        )
        out["unconditional"]["seconds"] = time.time() - t
        print(json.dumps(out), flush=True)
    if args.n_cond:
        ref = load_dataset("perov_5:test")
        picks = np.random.default_rng(args.seed).choice(len(ref), args.n_cond, replace=False)
        comps = [ref.structures[i].composition for i in picks]
        t = time.time()
        cond = gen.sample(
            args.n_cond, composition=comps, seed=args.seed + 1, num_steps=steps, recon=recon
        )
        out["composition_conditioned"] = report(cond)
        out["composition_conditioned"]["seconds"] = time.time() - t
        out["reference_rows"] = report_reference([ref.structures[i] for i in picks])
    print(json.dumps(out, indent=1))


def report_reference(structures) -> dict:
    """The same checks on real rows (their ceiling)."""
    s_ok = [structure_validity(s)[0] for s in structures]
    c_ok = [smact_validity(s.composition) for s in structures]
    return {
        "structure_validity": float(np.mean(s_ok)),
        "composition_validity": float(np.mean(c_ok)),
    }


if __name__ == "__main__":
    main()
