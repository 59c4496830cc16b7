"""Derived MP hull points and MP-20 scale checks for the bundled ``mp2021`` hull.

Every Materials Project row is a point on MP's hull: its formation energy less its energy
above the hull, E_f − e_above_hull, is MP's hull energy (MP2020, eV/atom) at its
composition, whether the material itself is stable or not. The bundled MP-20 rows
(``hull/data/mp20_rows.csv.gz``) therefore give MP's hull energy at 8,704 compositions,
of which only the ``e_above_hull == 0`` vertices were used before (``genflow.hull.supplement``).

- :func:`mp_hull_points`: one derived point per distinct non-elemental reduced composition,
  moved onto the hull's scale with ``scheme.energy_from_formation`` (E = E_f + Σ x_i μ_i).
  They are marked: ``source`` :data:`HULL_POINT_SOURCE`, ``kind`` :data:`KIND_HULL_POINT`,
  ``material_id`` the MP-20 row they come from, ids tagged :data:`HULL_POINT_TAG` in a
  loaded hull (:func:`is_hull_point`). A hull point is an energy at a composition, not a
  structure: nothing may match candidates against it as a known material.
- :func:`informative_points`: only points that lower the materials' hull by more than
  :data:`POINT_TOL` are stored; the others would tie with the material vertices that already
  define the hull there and put a non-material into decompositions.
- :func:`reconcile_with_mp20`: MP-20's values win over composition-based MP2020 corrections.
  A snapshot entry that *is* an MP-20 material takes MP-20's energy when the two differ by
  more than :data:`SAME_ID_TOL`; an entry that sits more than :data:`SCALE_TOL` below MP's
  hull energy at its own composition (impossible for a genuine MP entry on MP's scale) is
  raised to it. Both keep their composition-based ``energy``/``correction`` columns and say
  so in ``scale_flag`` (``mp20_energy:<id>`` / ``mp20_hull:<id>``), so the composition-based
  value stays recoverable as (energy + correction) / n_sites.
- :func:`flag_below_mp_hull`: where the finished hull still lies more than
  :data:`SCALE_TOL` below MP's at an MP-20 composition, the snapshot compounds that hold it
  there and that no MP-20 row checks (newer MP data, or a scale no composition can settle)
  get ``below_mp_hull:<formula>`` in ``scale_flag``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from genflow.core.chem import parse_composition
from genflow.hull.coverage import composition_key
from genflow.hull.scheme import energy_from_formation

__all__ = [
    "HULL_POINT_SOURCE",
    "HULL_POINT_TAG",
    "KIND_HULL_POINT",
    "KIND_MATERIAL",
    "POINT_TOL",
    "SAME_ID_TOL",
    "SCALE_TOL",
    "composition_keys",
    "flag_below_mp_hull",
    "informative_points",
    "is_hull_point",
    "mp_hull_energies",
    "mp_hull_points",
    "reconcile_with_mp20",
]

#: ``source`` of derived hull points in the ``mp2021`` table.
HULL_POINT_SOURCE = "mp20_hull_point"
#: Suffix of derived hull-point ids in a loaded hull.
HULL_POINT_TAG = " (MP-20 hull point)"
#: ``kind`` column values: a computed material, or an MP hull energy at a composition.
KIND_MATERIAL = "material"
KIND_HULL_POINT = "hull_point"
#: eV/atom: a derived point is stored where the materials' hull lies more than this above it.
POINT_TOL = 1e-3
#: eV/atom: an entry this far below MP's hull energy at its composition is on the wrong scale.
SCALE_TOL = 0.025
#: eV/atom: a snapshot material whose energy differs from MP-20's by more takes MP-20's. Below
#: it the two are MP recalculations of one material (a few meV/atom apart even without any
#: MP2020 correction, e.g. CaZn2), and the snapshot's newer number stays.
SAME_ID_TOL = SCALE_TOL


def is_hull_point(entry_id: str) -> bool:
    """True for the id of a derived hull point in a loaded hull (not a material)."""
    return str(entry_id).endswith(HULL_POINT_TAG)


def composition_keys(compositions: Sequence[str]) -> list[tuple]:
    """Reduced-composition key (``coverage.composition_key``) of each formula."""
    return [composition_key(parse_composition(c)) for c in compositions]


def mp_hull_energies(rows: pd.DataFrame, mu: Mapping[str, float]) -> np.ndarray:
    """MP's hull energy at each MP-20 row's composition, on the hull's scale (eV/atom).

    E_f − e_above_hull is MP's hull formation energy there; ``energy_from_formation`` adds
    the hull's Σ x_i μ_i.
    """
    hull_form = rows["formation_energy_per_atom"] - rows["e_above_hull"]
    return energy_from_formation(rows["composition"].tolist(), hull_form.tolist(), mu)


def mp_hull_points(rows: pd.DataFrame, mu: Mapping[str, float]) -> pd.DataFrame:
    """One derived hull point per distinct non-elemental reduced composition of ``rows``.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``supplement.extract_mp20_rows`` output.
    mu : mapping
        Element → elemental reference energy per atom of the hull (eV/atom).

    Returns
    -------
    pandas.DataFrame
        ``mp2021`` table columns plus ``key`` (reduced-composition key); per composition the
        row with the lowest ``e_above_hull`` (then lowest id number) names the point. All
        rows of one composition agree on MP's hull energy (measured spread < 6e-5 eV/atom).
    """
    order = rows["material_id"].str.extract(r"(\d+)$", expand=False).astype(int)
    rows = rows.assign(_order=order, key=composition_keys(rows["composition"].tolist()))
    rows = rows[[len(k) > 1 for k in rows["key"]]]
    best = rows.sort_values(["e_above_hull", "_order"]).drop_duplicates("key")
    best = best.sort_values("_order")
    energy = mp_hull_energies(best, mu)
    keep = np.isfinite(energy)
    best = best[keep]
    return pd.DataFrame(
        {
            "material_id": best["material_id"].to_numpy(),
            "composition": best["composition"].to_numpy(),
            "formula": best["pretty_formula"].to_numpy(),
            "n_sites": best["n_sites"].astype(float).to_numpy(),
            "energy": np.nan,
            "correction": np.nan,
            "energy_per_atom": energy[keep],
            "source": HULL_POINT_SOURCE,
            "kind": KIND_HULL_POINT,
            "scale_flag": "",
            "key": best["key"].to_numpy(),
        }
    )


def informative_points(points: pd.DataFrame, materials: pd.DataFrame) -> pd.DataFrame:
    """The derived points that lie more than ``POINT_TOL`` below the materials' hull."""
    from genflow.hull.reference import ReferenceHull

    hull = ReferenceHull(
        materials["composition"].tolist(), materials["energy_per_atom"].to_numpy(), name="materials"
    )
    scores = hull.score(points["composition"].tolist(), points["energy_per_atom"].to_numpy())
    return points[scores.e_d < -POINT_TOL].reset_index(drop=True)


def reconcile_with_mp20(
    table: pd.DataFrame, rows: pd.DataFrame, points: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Let MP-20's values win over composition-based corrections of snapshot entries.

    Parameters
    ----------
    table : pandas.DataFrame
        ``mp2021`` table rows (``scale_flag`` column present); only non-elemental
        ``gnome_mp_snapshot`` rows are changed.
    rows : pandas.DataFrame
        ``extract_mp20_rows`` output with an ``energy_per_atom`` column (MP-20's own energy
        on the hull's scale, E_f + Σ x_i μ_i).
    points : pandas.DataFrame
        ``mp_hull_points`` output (MP's hull energy per composition key).

    Returns
    -------
    table : pandas.DataFrame
        With ``energy_per_atom`` and ``scale_flag`` updated where MP-20 wins.
    changes : pandas.DataFrame
        ``material_id, formula, rule, mp20_id, before, after`` of every change (eV/atom).
    """
    table = table.copy()
    snap = (table["source"] == "gnome_mp_snapshot").to_numpy()
    keys = composition_keys(table["composition"].tolist())
    snap &= np.asarray([len(k) > 1 for k in keys])
    own = rows.set_index("material_id")["energy_per_atom"]
    pairs = zip(points["energy_per_atom"], points["material_id"], strict=True)
    at_key = dict(zip(points["key"], pairs, strict=True))
    changes = []
    for i in np.flatnonzero(snap).tolist():
        mid, before = table.at[i, "material_id"], float(table.at[i, "energy_per_atom"])
        after, rule, source = None, "", ""
        if mid in own.index and abs(own[mid] - before) > SAME_ID_TOL:
            after, rule, source = float(own[mid]), "mp20_energy", mid
        elif keys[i] in at_key and at_key[keys[i]][0] - before > SCALE_TOL:
            after, source = at_key[keys[i]]
            rule = "mp20_hull"
        if after is None:
            continue
        flag = table.at[i, "scale_flag"]
        table.at[i, "energy_per_atom"] = after
        table.at[i, "scale_flag"] = ";".join(f for f in (f"{rule}:{source}", flag) if f)
        changes.append((mid, table.at[i, "formula"], rule, source, before, after))
    cols = ["material_id", "formula", "rule", "mp20_id", "before", "after"]
    return table, pd.DataFrame(changes, columns=cols)


def flag_below_mp_hull(table: pd.DataFrame, points: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Flag snapshot entries that put the hull > ``SCALE_TOL`` below MP's at a point.

    Parameters
    ----------
    table : pandas.DataFrame
        The finished ``mp2021`` table (``scale_flag`` column present).
    points : pandas.DataFrame
        ``mp_hull_points`` output (every point, stored or not).

    Returns
    -------
    table : pandas.DataFrame
        With ``below_mp_hull:<formula>`` appended to the ``scale_flag`` of each snapshot
        compound in the decomposition at such a composition that no MP-20 row checks (its
        own composition has no point; elemental references are never flagged).
    low : list of str
        Formulas of the compositions where the hull lies below MP's.
    """
    from genflow.hull.reference import ReferenceHull

    table = table.copy()
    hull = ReferenceHull(
        table["composition"].tolist(),
        table["energy_per_atom"].to_numpy(),
        ids=[str(i) for i in range(len(table))],
        name="mp2021",
    )
    energy = points["energy_per_atom"].to_numpy()
    scores = hull.score(points["composition"].tolist(), energy)
    low = np.flatnonzero(scores.e_hull < energy - SCALE_TOL).tolist()
    checked = set(points["key"])  # compositions where MP-20 shows MP's value
    for j in low:
        rows_amounts = zip(scores.vertex_rows[j], scores.amounts[j], strict=True)
        for r in [int(hull.ids[r]) for r, a in rows_amounts if r >= 0 and a > 0]:
            flag = table.at[r, "scale_flag"]
            [key] = composition_keys([table.at[r, "composition"]])
            if table.at[r, "source"] != "gnome_mp_snapshot" or len(key) == 1 or key in checked:
                continue
            tag = f"below_mp_hull:{points['formula'].iat[j]}"
            table.at[r, "scale_flag"] = ";".join(f for f in (flag, tag) if f)
    return table, points["formula"].iloc[low].tolist()
