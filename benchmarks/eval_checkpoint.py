"""Sample quality of a generator checkpoint: structure and SMACT composition validity.

Draws ``--n`` unconditional samples and ``--n-cond`` samples conditioned on the exact
compositions of randomly chosen rows of a reference dataset (default: the bundled Perov-5
test split), with the config's number of steps, and reports the CDVAE validity fractions
(:func:`genflow.model.validity.validity_report`: min distance ≥ 0.5 Å and cell sanity;
SMACT charge neutrality + Pauling test). The reference rows themselves are scored too, as the
ceiling the same checks give real crystals.

Usage: ``python benchmarks/eval_checkpoint.py [--checkpoint DIR] [--n 100] [--n-cond 50]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from genflow.model import load_generator
from genflow.model.data import load_dataset
from genflow.model.validity import smact_validity, structure_validity

# SMACT's search is a product over every element's oxidation states, exponential in the number
# of elements; an unconditional sample with dozens of elements would never finish. No crystal
# in the training data has more than MAX_ELEMENTS elements, so such samples count as invalid.
MAX_ELEMENTS = 6


def validity_report(structures):
    """Structure / SMACT / overall validity fractions (CDVAE's definitions)."""
    s_ok = [structure_validity(s)[0] for s in structures]
    c_ok = [
        len(s) > 0 and len(s.composition.elements) <= MAX_ELEMENTS and smact_validity(s.composition)
        for s in structures
    ]
    n = len(structures)
    return _Report(
        n, sum(s_ok) / n, sum(c_ok) / n, sum(a and b for a, b in zip(s_ok, c_ok, strict=True)) / n
    )


class _Report(dict):
    def __init__(self, n, structure, composition, overall):
        super().__init__(
            n=n,
            structure_validity=structure,
            composition_validity=composition,
            overall_validity=overall,
            max_elements_for_smact=MAX_ELEMENTS,
        )

    def as_dict(self):
        return dict(self)


def main() -> dict:
    """Run the evaluation and print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-cond", type=int, default=50)
    ap.add_argument("--reference", default="perov_5:test")
    ap.add_argument("--steps", type=int, default=0, help="0 = config value")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    gen = load_generator(args.checkpoint)
    steps = args.steps or None
    out: dict = {"checkpoint_hash": gen.checkpoint_hash, "step": gen.step}
    t = time.time()
    uncond = gen.sample(args.n, seed=args.seed, num_steps=steps, batch_size=50)
    out["unconditional"] = validity_report(uncond).as_dict()
    out["unconditional"]["seconds"] = time.time() - t
    out["unconditional"]["mean_atoms"] = float(np.mean([len(s) for s in uncond]))
    out["unconditional"]["n_atoms_5_fraction"] = float(np.mean([len(s) == 5 for s in uncond]))
    out["unconditional"]["mean_elements"] = float(
        np.mean([len(s.composition.elements) for s in uncond])
    )
    print(json.dumps(out), flush=True)

    ref = load_dataset(args.reference)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(ref), size=args.n_cond, replace=False)
    comps = [ref.structures[i].composition for i in picks]
    t = time.time()
    cond = gen.sample(
        args.n_cond, composition=comps, seed=args.seed + 1, num_steps=steps, batch_size=50
    )
    out["composition_conditioned"] = validity_report(cond).as_dict()
    out["composition_conditioned"]["seconds"] = time.time() - t
    out["composition_conditioned"]["exact_composition_fraction"] = float(
        np.mean([s.composition == c for s, c in zip(cond, comps, strict=True)])
    )
    out["reference_rows"] = validity_report([ref.structures[i] for i in picks]).as_dict()
    out["num_steps"] = steps or int(gen.config.diffusion.num_steps)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
