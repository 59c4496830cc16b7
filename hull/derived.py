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
- :func:`bound_by_mp20`: where the hull still lies more than :data:`SCALE_TOL` below MP's
  at an MP-20 composition, through snapshot compounds that no MP-20 row checks (a later MP
  recalculation, or a scale no composition settles), the one no other MP-20 composition
  vouches for is raised onto the lowest energy MP's value there allows
  (``mp20_bound:<id>`` in ``scale_flag``), until no such composition is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from genflow.core.chem import parse_composition
from genflow.hull.coverage import composition_key
from genflow.hull.scheme import energy_from_formation

__all__ = [
    "BOUND_RULE",
    "HULL_POINT_SOURCE",
    "HULL_POINT_TAG",
    "KIND_HULL_POINT",
    "KIND_MATERIAL",
    "POINT_TOL",
    "SAME_ID_TOL",
    "SCALE_TOL",
    "bound_by_mp20",
    "composition_keys",
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
#: ``scale_flag`` rule of an entry raised onto the lowest energy MP-20's hull energies allow.
BOUND_RULE = "mp20_bound"


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


def _adjustable(table: pd.DataFrame, checked: set) -> np.ndarray:
    """Rows whose energy MP-20 checks nowhere directly: non-elemental snapshot materials whose
    own composition has no MP-20 point (elemental references, supplement rows and points are
    MP's values; snapshot entries at a point's composition were reconciled with it)."""
    keys = composition_keys(table["composition"].tolist())
    own = np.asarray([len(k) > 1 and k not in checked for k in keys], dtype=bool)
    snap = (table["source"] == "gnome_mp_snapshot").to_numpy()
    return snap & (table["kind"] == KIND_MATERIAL).to_numpy() & own


def _decompositions(comps: list, energy: np.ndarray, points: pd.DataFrame, name: str):
    """Hull of ``comps``/``energy`` scored at the points: (scores, vertex rows as positions
    in ``comps``, -1 where none; a row the hull skipped would shift its own numbering)."""
    from genflow.hull.reference import ReferenceHull

    hull = ReferenceHull(comps, energy, ids=[str(i) for i in range(len(comps))], name=name)
    scores = hull.score(points["composition"].tolist(), points["energy_per_atom"].to_numpy())
    position = np.asarray([int(i) for i in hull.ids] + [-1])
    return scores, position[np.where(scores.vertex_rows >= 0, scores.vertex_rows, -1)]


def _vouched(comps: list, energy: np.ndarray, points: pd.DataFrame) -> np.ndarray:
    """Per row of ``comps``/``energy``: how many points vouch for its energy, i.e. have it in
    their decomposition on the hull of these rows alone while that hull lies no more than
    :data:`POINT_TOL` below MP's value (raising the row would lift the hull there above it)."""
    scores, vertex = _decompositions(comps, energy, points, "mp20-vouch")
    at_mp = scores.e_hull - points["energy_per_atom"].to_numpy() >= -POINT_TOL
    rows = vertex[at_mp][scores.amounts[at_mp] > 0]
    return np.bincount(rows[rows >= 0], minlength=len(comps))


def bound_by_mp20(
    table: pd.DataFrame, points: pd.DataFrame, *, max_rounds: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Raise unchecked snapshot compounds that hold the hull below MP's at an MP-20 point.

    MP's hull energy at a composition is the lowest any combination of MP's entries reaches
    there, so no genuine entry of the database MP-20 came from can combine with others to
    lie below it. Where the hull of ``table`` plus every point lies more than
    :data:`SCALE_TOL` below a point, some vertex of that decomposition had a higher energy
    in MP-20's database (or was not in it): a later MP recalculation, or a scale no
    composition settles. Of its adjustable vertices (:func:`_adjustable`) the one fewest
    other points vouch for (:func:`_vouched`; then one whose MP2020 correction the
    composition cannot settle, ``scheme.scale_flag``; then the largest share a) is raised by
    |gap| / a, which puts the hull there exactly on MP's value: MP-20 says only how high
    the entry must have been, and this is the least change that agrees. Rounds repeat until
    no point sits more than :data:`SCALE_TOL` above the hull (another decomposition can take
    over once an entry rises). Raised rows keep their composition-based ``energy`` and
    ``correction`` and get ``mp20_bound:<id>`` (the MP-20 row whose hull energy set the
    final bound) in ``scale_flag``.

    Parameters
    ----------
    table : pandas.DataFrame
        ``mp2021`` table rows (``kind`` and ``scale_flag`` columns present).
    points : pandas.DataFrame
        ``mp_hull_points`` output: MP's hull energy per composition (every point, stored or not).
    max_rounds : int
        Give up (``RuntimeError``) if the hull still lies below MP's after this many rounds.

    Returns
    -------
    table : pandas.DataFrame
        With ``energy_per_atom`` raised and ``scale_flag`` tagged where a bound applied.
    changes : pandas.DataFrame
        ``material_id, formula, rule, mp20_id, before, after`` (eV/atom) per raised row.
    unresolved : list of str
        Formulas of points still more than :data:`SCALE_TOL` above the hull through vertices
        none of which is adjustable (MP-20 rows contradicting each other).
    """
    table = table.reset_index(drop=True)
    adjustable = _adjustable(table, set(points["key"]))
    # a correction the composition cannot settle (scheme.scale_flag) is the likelier slip
    settled = ~table["scale_flag"].fillna("").str.contains("unsettled|anion_guess").to_numpy()
    energy = table["energy_per_atom"].to_numpy(dtype=float).copy()
    before, n = energy.copy(), len(table)
    comps = table["composition"].tolist() + points["composition"].tolist()
    target = points["energy_per_atom"].to_numpy(dtype=float)
    bound_by: dict[int, str] = {}
    for _ in range(max_rounds):
        energies = np.concatenate([energy, target])
        scores, vertex = _decompositions(comps, energies, points, "mp20-bound")
        low = np.flatnonzero(scores.e_hull - target < -SCALE_TOL).tolist()
        unresolved = []
        if not low:
            break
        vouched = _vouched(comps[:n], energy, points)
        raise_by: dict[int, tuple[float, str]] = {}
        for j in low:
            shares = zip(scores.amounts[j], vertex[j], strict=True)
            movable = [(vouched[r], settled[r], -a, r) for a, r in shares if 0 <= r < n and a > 0]
            movable = [m for m in movable if adjustable[m[3]]]
            if not movable:
                unresolved.append(str(points["formula"].iat[j]))
                continue
            *_, share, row = min(movable)
            shift = (scores.e_hull[j] - target[j]) / share  # share < 0: a positive shift
            if shift > raise_by.get(row, (0.0, ""))[0]:
                raise_by[row] = (shift, str(points["material_id"].iat[j]))
        if not raise_by:
            break
        for row, (shift, mid) in raise_by.items():
            energy[row] += shift
            bound_by[row] = mid
    else:
        raise RuntimeError(f"bound_by_mp20: hull still below MP's after {max_rounds} rounds")
    changes = []
    for row, mid in sorted(bound_by.items()):
        flag = table.at[row, "scale_flag"]
        table.at[row, "scale_flag"] = ";".join(f for f in (f"{BOUND_RULE}:{mid}", flag) if f)
        mat_id, formula = table.at[row, "material_id"], table.at[row, "formula"]
        changes.append((mat_id, formula, BOUND_RULE, mid, before[row], energy[row]))
    table["energy_per_atom"] = energy
    cols = ["material_id", "formula", "rule", "mp20_id", "before", "after"]
    return table, pd.DataFrame(changes, columns=cols), unresolved
