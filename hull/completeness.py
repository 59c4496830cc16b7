"""How complete is the bundled ``mp2021`` hull? Measured on held-out MP-20 compositions.

Every MP-20 row carries MP's hull energy at its composition (E_f − e_above_hull,
``genflow.hull.derived``). Holding out a part of the bundled MP-20 rows — every row whose
reduced composition is in the part, from any file — and building the hull without what
those rows contribute (their supplement vertices, their derived points and the scale fixes
made at their compositions) leaves a hull that knows nothing the held-out rows told it. At
each held-out composition c the gap

    Δ(c) = E_hull,bundled(c) − E_hull,MP(c)                                  (eV/atom)

says how far the bundled hull lies above MP's (Δ > 0: a candidate there looks more stable
than MP would call it; a hole) or below (Δ < 0: an entry on the wrong scale, or MP data
newer than MP-20). Two hulls are compared per part:

- ``before``: today's build before derived points — snapshot with composition-only MP2020
  corrections (pymatgen's oxide-type fallback, no MP-20 values) plus the training parts'
  MP-20 vertices;
- ``after``: the current build — scale fixes, MP-20 bounds (``derived.bound_by_mp20``,
  redone from the training parts' points) and derived points of the training parts.

Parts (:func:`holdout_parts`): ``pilot`` (MP-20 pilot train/val/test compositions),
``biternary`` (bi/ternary val compositions) and ``fold<i>/<k>`` (a seeded k-fold split of
all compositions). Elemental compositions are never held out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from genflow.hull.derived import (
    BOUND_RULE,
    KIND_MATERIAL,
    bound_by_mp20,
    composition_keys,
    mp_hull_energies,
    mp_hull_points,
)
from genflow.hull.reference import ReferenceHull
from genflow.hull.scheme import mp2020_corrections
from genflow.hull.supplement import SUPPLEMENT_SOURCE

__all__ = [
    "GAP_TOL",
    "LARGE_GAP_TOL",
    "PILOT_PARTS",
    "by_group",
    "holdout_parts",
    "hull_variant",
    "load_inputs",
    "measure",
    "point_check",
    "summarize",
]

#: eV/atom: a held-out composition whose bundled hull lies more than this above MP's is a gap.
GAP_TOL = 0.025
#: eV/atom: a large gap.
LARGE_GAP_TOL = 0.100
#: File stems of the MP-20 pilot rows (``model/data/mp_20``).
PILOT_PARTS = frozenset({"train", "val", "test"})


def holdout_parts(rows: pd.DataFrame, k: int = 5, seed: int = 0) -> dict[str, set]:
    """Held-out parts, each a set of reduced-composition keys (non-elemental only).

    ``pilot``: compositions of rows in a pilot file; ``biternary``: of rows in
    ``val_biternary``; ``fold<i>/<k>``: a seeded permutation of all compositions in k parts
    (``k=0``: none).
    """
    keys = composition_keys(rows["composition"].tolist())
    files = [set(p.split(";")) for p in rows["parts"]]
    parts = {
        "pilot": {key for key, f in zip(keys, files, strict=True) if f & PILOT_PARTS},
        "biternary": {key for key, f in zip(keys, files, strict=True) if "val_biternary" in f},
    }
    every = sorted({key for key in keys if len(key) > 1})
    order = np.random.default_rng(seed).permutation(len(every))
    for i in range(k):
        parts[f"fold{i + 1}/{k}"] = {every[j] for j in order[i::k]}
    return {name: {key for key in held if len(key) > 1} for name, held in parts.items()}


def _composition_based(table: pd.DataFrame) -> np.ndarray:
    """Energies per atom with composition-only MP2020 corrections (the pre-MP-20 scale)."""
    energy = table["energy_per_atom"].to_numpy(dtype=float).copy()
    flags = table["scale_flag"].fillna("")
    fixed = flags.str.contains("mp20_").to_numpy()
    energy[fixed] = (table["energy"] + table["correction"]).to_numpy()[fixed] / table[
        "n_sites"
    ].to_numpy()[fixed]
    guessed = flags.str.contains("oxide_type:peroxide|oxide_type:superoxide").to_numpy()
    if guessed.any():
        sub = table[guessed]
        corr, _ = mp2020_corrections(sub["composition"].tolist(), sub["energy"].tolist())
        energy[guessed] = (sub["energy"].to_numpy() + corr) / sub["n_sites"].to_numpy()
    return energy


def hull_variant(
    table: pd.DataFrame,
    rows: pd.DataFrame,
    held: set,
    mu: Mapping[str, float],
    *,
    after: bool,
    drop_elements: Iterable[str] = (),
) -> ReferenceHull:
    """The bundled hull as built without the MP-20 rows at ``held`` compositions.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``mp2021`` table (``build_mp2021.COLUMNS``).
    rows : pandas.DataFrame
        ``supplement.extract_mp20_rows`` output.
    held : set
        Held-out reduced-composition keys.
    mu : mapping
        The table's elemental references (eV/atom).
    after : bool
        True: current scheme (scale fixes outside ``held``, MP-20 bounds and derived points
        from every other composition); False: composition-only scale, MP-20 vertices only.
    drop_elements : iterable of str
        Remove every non-elemental entry containing one of these (a deliberately holed hull).
    """
    materials = table[table["kind"] == KIND_MATERIAL].reset_index(drop=True)
    keys = composition_keys(materials["composition"].tolist())
    in_held = np.asarray([key in held for key in keys])
    before = _composition_based(materials)
    energy = materials["energy_per_atom"].to_numpy(dtype=float)
    energy = np.where(in_held, before, energy) if after else before
    # MP-20 bounds come from points at other compositions: undone here, redone below from
    # the points of the compositions kept
    bounded = materials["scale_flag"].fillna("").str.contains(BOUND_RULE).to_numpy()
    unbound = (materials["energy"] + materials["correction"]) / materials["n_sites"]
    energy = np.where(bounded, unbound.to_numpy(), energy) if after else energy
    keep = ~(in_held & (materials["source"] == SUPPLEMENT_SOURCE).to_numpy())
    materials = materials.assign(energy_per_atom=energy)[keep].reset_index(drop=True)
    if after:
        train = rows[[key not in held for key in composition_keys(rows["composition"].tolist())]]
        points = mp_hull_points(train, mu)
        materials, _, _ = bound_by_mp20(materials, points)
        comps = materials["composition"].tolist() + points["composition"].tolist()
        energies = np.concatenate([materials["energy_per_atom"], points["energy_per_atom"]])
    else:
        comps, energies = materials["composition"].tolist(), materials["energy_per_atom"]
        energies = energies.to_numpy()
    dropped = set(drop_elements)
    if dropped:
        mask = [len(k) == 1 or not dropped & {el for el, _ in k} for k in composition_keys(comps)]
        comps = [c for c, m in zip(comps, mask, strict=True) if m]
        energies = energies[np.asarray(mask)]
    return ReferenceHull(comps, energies, name="after" if after else "before")


def load_inputs() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """The bundled ``mp2021`` table, MP-20 row extract and the table's elemental references."""
    from genflow.hull.build_mp2021 import elemental_references
    from genflow.hull.paths import MP20_ROWS_FILE, MP2021_FILE

    table = pd.read_csv(MP2021_FILE)
    table["scale_flag"] = table["scale_flag"].fillna("")
    return table, pd.read_csv(MP20_ROWS_FILE), elemental_references(table)


def point_check(table: pd.DataFrame, rows: pd.DataFrame, mu: Mapping[str, float]) -> pd.DataFrame:
    """Derived points against the snapshot's lowest entry at the same composition.

    One row per composition both hold: ``formula, point, snapshot`` (composition-only
    MP2020 scale, eV/atom) and ``diff`` = snapshot − point (eV/atom; < 0: the snapshot entry
    sits below MP's hull energy there).
    """
    snap = table[table["source"] == "gnome_mp_snapshot"].reset_index(drop=True)
    snap = snap.assign(key=composition_keys(snap["composition"].tolist()))
    snap["before"] = _composition_based(snap)
    lowest = snap.groupby("key")["before"].min()
    points = mp_hull_points(rows, mu).set_index("key")
    both = points.join(lowest, how="inner")
    return pd.DataFrame(
        {
            "formula": both["formula"].to_numpy(),
            "point": both["energy_per_atom"].to_numpy(),
            "snapshot": both["before"].to_numpy(),
            "diff": (both["before"] - both["energy_per_atom"]).to_numpy(),
        }
    )


def measure(
    table: pd.DataFrame, rows: pd.DataFrame, held: set, mu: Mapping[str, float], **kw
) -> pd.DataFrame:
    """Gap Δ (eV/atom) of the ``before`` and ``after`` hulls at each held-out composition.

    Returns one row per held-out composition: ``formula, chemsys, mp_hull, before, after``
    (hull energies, eV/atom) and ``gap_before``, ``gap_after`` (Δ). ``kw`` go to
    :func:`hull_variant` (``drop_elements``).
    """
    sub = rows.assign(key=composition_keys(rows["composition"].tolist()))
    sub = sub[sub["key"].isin(held)].drop_duplicates("key").reset_index(drop=True)
    mp_hull = mp_hull_energies(sub, mu)
    out = pd.DataFrame(
        {
            "formula": sub["pretty_formula"],
            "chemsys": ["-".join(el for el, _ in key) for key in sub["key"]],
            "mp_hull": mp_hull,
        }
    )
    for name, after in (("before", False), ("after", True)):
        hull = hull_variant(table, rows, held, mu, after=after, **kw)
        scores = hull.score(sub["composition"].tolist(), mp_hull)
        out[name] = scores.e_hull
        out[f"gap_{name}"] = scores.e_hull - mp_hull
    return out


def summarize(gaps: pd.DataFrame) -> dict:
    """Counts and fractions of held-out compositions above / below MP's hull, per hull."""
    out: dict = {"compositions": len(gaps)}
    for name in ("before", "after"):
        gap = gaps[f"gap_{name}"].to_numpy()
        out[name] = {
            "above_25meV": float(np.mean(gap > GAP_TOL)),
            "above_100meV": float(np.mean(gap > LARGE_GAP_TOL)),
            "below_25meV": float(np.mean(gap < -GAP_TOL)),
        }
    return out


def by_group(gaps: pd.DataFrame, by: str = "element") -> pd.DataFrame:
    """Gaps per element (``by="element"``) or chemical system (``"chemsys"``), worst first.

    Columns ``n, gaps_before, gaps_after`` (compositions > 25 meV/atom above MP's),
    ``above_before, above_after, above100_before, above100_after`` (fractions) and
    ``max_gap_before, max_gap_after`` (eV/atom). Elements are sorted by ``above_after``
    (fraction), systems by ``gaps_after`` (count), then the other, descending.
    """
    if by == "element":
        groups = gaps.assign(group=gaps["chemsys"].str.split("-")).explode("group")
    else:
        groups = gaps.assign(group=gaps["chemsys"])
    agg = groups.groupby("group").agg(
        n=("formula", "size"),
        gaps_before=("gap_before", lambda g: int(np.sum(g > GAP_TOL))),
        gaps_after=("gap_after", lambda g: int(np.sum(g > GAP_TOL))),
        above_before=("gap_before", lambda g: float(np.mean(g > GAP_TOL))),
        above_after=("gap_after", lambda g: float(np.mean(g > GAP_TOL))),
        above100_before=("gap_before", lambda g: float(np.mean(g > LARGE_GAP_TOL))),
        above100_after=("gap_after", lambda g: float(np.mean(g > LARGE_GAP_TOL))),
        max_gap_before=("gap_before", "max"),
        max_gap_after=("gap_after", "max"),
    )
    order = ["above_after", "gaps_after"] if by == "element" else ["gaps_after", "above_after"]
    return agg.sort_values([*order, "n"], ascending=False)
