"""MP-20 supplement for ``mp2021``: MP hull vertices that GNoME's MP snapshot lacks.

GNoME's Materials Project snapshot misses whole families of MP hull vertices (every Yb
compound, MgO, the Fe–O binaries, GeO2, Sm oxides, ...), so candidates in those systems
score falsely "stable" against it. MP-20 (CDVAE's curation of MP) carries each material's
MP2020-corrected formation energy per atom and its ``e_above_hull``; its hull vertices
(``e_above_hull == 0``) that the snapshot does not contain are added to ``mp2021`` as a
marked supplement.

Two steps, both deterministic:

1. ``extract_mp20_rows`` reads MP-20 CSVs (``material_id``, ``pretty_formula``,
   ``formation_energy_per_atom``, ``e_above_hull``, ``cif``) and keeps every material once,
   with its cell composition from the CIF's ``_chemical_formula_sum`` and the files (parts)
   it appears in — the bundled ``hull/data/mp20_rows.csv.gz`` (``python -m
   genflow.hull.build_mp2021 --extract-mp20 model/data/mp_20`` regenerates it). Its hull
   vertices (``e_above_hull == 0``) feed this supplement; every row gives a derived hull
   point (``genflow.hull.derived``);
2. ``mp20_supplement_rows`` converts the vertices absent from the reference into rows of the
   ``mp2021`` table with the hull's own corrected elemental references μ_i
   (``scheme.energy_from_formation``: E = E_f + Σ_i x_i μ_i, eV/atom). Uncorrected energy
   and MP2020 correction are not known separately for these rows (MP-20 publishes the
   corrected formation energy only), so the ``energy`` and ``correction`` columns stay
   empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from genflow.core.chem import parse_composition
from genflow.core.structure_io.formats import cif_formula_sum
from genflow.hull.scheme import energy_from_formation

__all__ = [
    "ROW_COLUMNS",
    "SUPPLEMENT_SOURCE",
    "SUPPLEMENT_TAG",
    "extract_mp20_rows",
    "mp20_supplement_rows",
]

log = logging.getLogger(__name__)

#: ``source`` value of supplement rows in the ``mp2021`` table.
SUPPLEMENT_SOURCE = "mp20_supplement"
#: Suffix of supplement entry ids in a loaded hull, so provenance shows wherever ids do.
SUPPLEMENT_TAG = " (MP-20 supplement)"
#: Columns of ``hull/data/mp20_rows.csv.gz`` (``parts``: ``;``-joined file stems).
ROW_COLUMNS = [
    "material_id",
    "pretty_formula",
    "composition",
    "n_sites",
    "formation_energy_per_atom",
    "e_above_hull",
    "parts",
]


def _cell_composition(cif: str, material_id: str) -> str:
    """Cell composition (e.g. ``Mg4O4``) from a pymatgen-written CIF's formula sum."""
    formula_sum = cif_formula_sum(cif)
    if formula_sum is None:
        raise ValueError(f"{material_id}: CIF has no _chemical_formula_sum")
    return formula_sum.replace(" ", "")


def extract_mp20_rows(files: Iterable[str | Path]) -> pd.DataFrame:
    """Every MP-20 material in ``files``, once, sorted by id, with the parts it is in.

    Parameters
    ----------
    files : iterable of path
        MP-20 CSV(.gz) files in CDVAE's column format.

    Returns
    -------
    pandas.DataFrame
        Columns ``ROW_COLUMNS``; ``formation_energy_per_atom`` is MP2020-corrected (eV/atom),
        ``parts`` the sorted file stems (``train;val``) the material appears in.

    Raises
    ------
    ValueError
        If one material id carries different formation energies in different files.
    """
    paths = sorted(map(Path, files))
    frames = [pd.read_csv(f).assign(_part=f.name.split(".")[0]) for f in paths]
    if not frames:
        raise ValueError("extract_mp20_rows: no MP-20 files given")
    rows = pd.concat(frames, ignore_index=True)
    spread = rows.groupby("material_id")["formation_energy_per_atom"].nunique()
    if (spread > 1).any():
        raise ValueError(f"conflicting MP-20 energies for {list(spread[spread > 1].index)[:5]}")
    parts = rows.groupby("material_id")["_part"].agg(lambda p: ";".join(sorted(set(p))))
    out = rows.drop_duplicates("material_id").copy()
    out["parts"] = out["material_id"].map(parts)
    out["composition"] = [
        _cell_composition(cif, mid) for cif, mid in zip(out["cif"], out["material_id"], strict=True)
    ]
    out["n_sites"] = [round(sum(a for _, a in parse_composition(c))) for c in out["composition"]]
    # Numeric id order (mp-2 before mp-10) keeps the extract stable across input orders.
    order = out["material_id"].str.extract(r"(\d+)$", expand=False).astype(int)
    out = out.assign(_order=order).sort_values(["_order", "material_id"])
    return out[ROW_COLUMNS].reset_index(drop=True)


def mp20_supplement_rows(
    rows: pd.DataFrame, reference_ids: Iterable[str], mu: Mapping[str, float]
) -> pd.DataFrame:
    r"""``mp2021`` table rows for the MP-20 hull vertices missing from the reference.

    Energy per atom from MP2020-corrected formation energy and the reference's corrected
    elemental energies μ_i (the same μ the hull's formation energies use)::

        E = E_f + Σ_i x_i μ_i                                                 (E_f inverted)

    Parameters
    ----------
    rows : pandas.DataFrame
        ``extract_mp20_rows`` output (its ``e_above_hull == 0`` rows are the vertices).
    reference_ids : iterable of str
        Material ids already in the reference (those vertices are not added again).
    mu : mapping
        Element → elemental reference energy per atom (eV/atom, MP2020-compatible).

    Returns
    -------
    pandas.DataFrame
        Columns ``material_id, composition, formula, n_sites, energy, correction,
        energy_per_atom, source``; ``energy`` and ``correction`` are NaN (not published
        separately). Elemental vertices are skipped: E_f = 0 makes them equal to μ by
        construction, so they add nothing and would only tie with the reference entry.
    """
    vertices = rows[rows["e_above_hull"] == 0]
    have = set(reference_ids)
    missing = vertices[~vertices["material_id"].isin(have)]
    out, skipped_elemental, uncovered = [], [], []
    for rec in missing.itertuples(index=False):
        pairs = parse_composition(rec.composition)
        if len(pairs) == 1:
            skipped_elemental.append(rec.material_id)
            continue
        if any(el not in mu for el, _ in pairs):
            uncovered.append(rec.material_id)
            continue
        [energy] = energy_from_formation([rec.composition], [rec.formation_energy_per_atom], mu)
        out.append(
            {
                "material_id": rec.material_id,
                "composition": rec.composition,
                "formula": rec.pretty_formula,
                "n_sites": float(rec.n_sites),
                "energy": np.nan,
                "correction": np.nan,
                "energy_per_atom": float(energy),
                "source": SUPPLEMENT_SOURCE,
            }
        )
    log.info(
        "MP-20 supplement: %d of %d vertices missing from the reference; %d added, "
        "%d elemental skipped %s, %d with uncovered elements %s",
        len(missing),
        len(vertices),
        len(out),
        len(skipped_elemental),
        skipped_elemental,
        len(uncovered),
        uncovered,
    )
    return pd.DataFrame(out)
