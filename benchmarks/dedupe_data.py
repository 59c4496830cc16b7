"""Synthetic dedupe workloads for ``bench_dedupe.py``, derived from bundled real crystals.

``spread``: real MP-20 and Perov-5 crystals (bundled with genflow.model) and variants:
relabelled copies (species swapped: same prototype, usually a new formula) and perturbed
copies (3% strain, 0.05 Å noise, 30% a 2x1x1 supercell) planted as duplicates of a named
stored row (15% of the new rows) or of an earlier new row (5%). ``crowded``: a chemical-system
campaign (``make_crowded_data``). Stored rows are pymatgen dicts with the fingerprint an
earlier gate run stored, so set-up reduces each base crystal once, not each stored row.
"""

from __future__ import annotations

import warnings

import numpy as np
from pymatgen.core import Structure


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


def jittered(s: Structure, rng: np.random.Generator) -> Structure:
    """A rattled (0.03 Å) and strained (up to 1%) copy: a matcher duplicate, not bit-identical."""
    out = s.copy()
    out.apply_strain(float(rng.uniform(-0.01, 0.01)))
    out.perturb(0.03, min_distance=0.0, seed=int(rng.integers(2**31)))
    return out


def make_crowded_data(base: list[Structure], n_stored: int, n_new: int, seed: int = 3):
    """A chemical-system campaign: every row a binary of 10 element pairs.

    Real binary prototypes (<= 12 sites) from the bundled sets, relabelled onto the pairs, so
    formula buckets hold hundreds to thousands of rows (stored rows of one prototype and
    labelling are identical copies, as an unrelaxed generator output would be). New rows are
    jittered (``jittered``), so a repeat is a true matcher duplicate, not a bit-identical
    copy; on top of the repeats the draw makes by chance, 10% of the new rows are planted
    copies of a named stored row and 2% of a named earlier new row (keys ``dup-of-<key>-j``).
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
    n_plant_stored, n_plant_batch = int(0.10 * n_new), int(0.02 * n_new)
    new = []
    for k in range(n_new - n_plant_stored - n_plant_batch):
        i, mapping = draw()
        new.append(
            (f"n{k}", jittered(Structure.from_dict(apply_mapping(binaries[i], mapping)), rng))
        )
    drawn = len(new)
    for j in range(n_plant_stored):
        key, d, _ = stored[int(rng.integers(len(stored)))]
        new.append((f"dup-of-{key}-{j}", jittered(Structure.from_dict(d), rng)))
    for j in range(n_plant_batch):
        key, s = new[int(rng.integers(drawn))]
        new.append((f"dup-of-{key}-{j}", jittered(s, rng)))
    order = rng.permutation(len(new))
    return stored, [new[i] for i in order]
