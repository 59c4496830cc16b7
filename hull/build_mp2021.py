"""Build the bundled ``mp2021`` reference: GNoME's MP snapshot, MP2020-corrected, cached.

Run ``python -m genflow.hull.build_mp2021`` to regenerate ``hull/data/mp2021_mp2020.csv.gz``
from the two raw files bundled next to it (see ``hull/data/README.md``). Steps:

1. read GNoME's Materials Project snapshot (31,840 hull vertices, uncorrected GGA/GGA+U
   total energies in the "Corrected Energy" column);
2. drop its five elemental rows with GNoME hash ids (Gd, Ge, Li, Mg, Na): those are GNoME
   recomputations, four of them with GNoME's pseudopotentials (Ge and Mg sit ~0.1 eV/atom
   above MP's own values, exactly GNoME's published POTCAR offsets), so they do not share
   a scheme with MP's compounds; MP's elemental reference entries replace them;
3. add MP's elemental reference entries for elements the snapshot has no elemental row for
   (Yb and Xe, plus the noble gases He, Ne, Ar, Kr), so every element it knows has a terminal
   entry and each chemical system's hull can be built;
4. apply pymatgen's ``MaterialsProject2020Compatibility`` (``genflow.hull.scheme``);
   Where charge balance settles a peroxide/superoxide the composition-only fallback misses,
   that oxide type is used (``scheme.oxide_type_guess``); every row says in ``scale_flag``
   which structure-dependent corrections a composition cannot settle (``scheme.scale_flag``);
5. append the MP-20 supplement (``genflow.hull.supplement``): MP-20 hull vertices that the
   snapshot lacks, from ``hull/data/mp20_rows.csv.gz``, with energies rebuilt from
   MP2020-corrected formation energies and the elemental references of steps 1–4
   (``source`` = ``mp20_supplement``; ``load_hull("mp2021-snapshot")`` leaves them out);
6. let MP-20's values win over composition-based corrections (``genflow.hull.derived``:
   same material → MP-20's energy; an entry below MP's hull at its composition → raised);
7. raise the snapshot compounds no MP-20 row checks that still hold the hull more than
   25 meV/atom below MP's at an MP-20 composition onto the lowest energy MP's value there
   allows (``genflow.hull.derived.bound_by_mp20``, ``mp20_bound:<id>``);
8. append derived MP hull points (E_f − e_above_hull of every MP-20 row, one per
   composition, ``source`` = ``mp20_hull_point``, ``kind`` = ``hull_point``) where they lower
   the materials' hull by more than 1 meV/atom.

``--extract-mp20 DIR`` first regenerates the MP-20 row extract from MP-20 CSVs in ``DIR``
(e.g. ``model/data/mp_20``).

Loading the cached result takes well under a second; rebuilding takes about two minutes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from genflow.core.chem import parse_composition
from genflow.core.structure_io import read_file_text
from genflow.hull.derived import (
    KIND_MATERIAL,
    bound_by_mp20,
    informative_points,
    mp_hull_points,
    reconcile_with_mp20,
)
from genflow.hull.paths import ELEMENTAL_FILE, MP20_ROWS_FILE, MP2021_FILE, SNAPSHOT_FILE
from genflow.hull.scheme import (
    energy_from_formation,
    mp2020_corrections,
    oxide_type_guess,
    scale_flag,
)
from genflow.hull.supplement import extract_mp20_rows, mp20_supplement_rows

__all__ = ["COLUMNS", "build_mp2021_table", "elemental_references", "main", "write_csv_gz"]

log = logging.getLogger(__name__)


COLUMNS = [
    "material_id",
    "composition",
    "formula",
    "n_sites",
    "energy",
    "correction",
    "energy_per_atom",
    "source",
    "kind",
    "scale_flag",
]


def _snapshot_rows(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, index_col=0)
    is_mp = df["MaterialId"].str.startswith("mp-")
    dropped = df.loc[~is_mp, "Reduced Formula"].tolist()
    log.info("dropping %d GNoME-recomputed rows: %s", len(dropped), dropped)
    df = df[is_mp]
    return pd.DataFrame(
        {
            "material_id": df["MaterialId"],
            "composition": df["Composition"],
            "formula": df["Reduced Formula"],
            "n_sites": df["NSites"].astype(float),
            "energy": df["Corrected Energy"].astype(float),
            "source": "gnome_mp_snapshot",
        }
    )


def _elemental_rows(path: Path, have: set[str]) -> pd.DataFrame:
    refs = json.loads(read_file_text(path))
    rows = []
    for symbol, entry in sorted(refs.items()):
        if symbol in have:
            continue
        comp = Composition(entry["composition"])
        rows.append(
            {
                "material_id": entry["data"]["material_id"],
                "composition": comp.formula.replace(" ", ""),
                "formula": comp.reduced_formula,
                "n_sites": float(comp.num_atoms),
                "energy": float(entry["energy"]),
                "source": "mp_elemental_reference",
            }
        )
    return pd.DataFrame(rows)


def elemental_references(table: pd.DataFrame) -> dict[str, float]:
    """Element → lowest corrected energy per atom (eV/atom) of the table's elemental rows.

    The same μ_i ``ReferenceHull`` derives (lowest pure-element entry per element).
    """
    mu: dict[str, float] = {}
    for comp, energy in zip(table["composition"], table["energy_per_atom"], strict=True):
        pairs = parse_composition(comp)
        if len(pairs) == 1:
            el = pairs[0][0]
            mu[el] = min(mu.get(el, np.inf), float(energy))
    return mu


def build_mp2021_table(
    snapshot: Path = SNAPSHOT_FILE,
    elemental: Path = ELEMENTAL_FILE,
    mp20_rows: Path | None = MP20_ROWS_FILE,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Assemble and MP2020-correct the ``mp2021`` reference table, plus the MP-20 supplement.

    Parameters
    ----------
    snapshot, elemental : Path
        GNoME's MP snapshot and MP's elemental reference entries.
    mp20_rows : Path or None
        MP-20 row extract (``genflow.hull.supplement``); None builds the snapshot only.
    progress : bool
        Show a progress bar over the MP2020 corrections.

    Returns
    -------
    pandas.DataFrame
        Columns ``COLUMNS``; ``energy`` and ``correction`` are eV per cell (NaN for
        supplement rows and hull points; composition-based where ``scale_flag`` starts with
        ``mp20_``), ``energy_per_atom`` is the corrected energy in eV/atom.
    """
    snap = _snapshot_rows(snapshot)
    elemental_in_snapshot = {
        f
        for f, c in zip(snap["formula"], snap["composition"], strict=True)
        if len(Composition(c).elements) == 1
    }
    have = {Composition(f).elements[0].symbol for f in elemental_in_snapshot}
    table = pd.concat([snap, _elemental_rows(elemental, have)], ignore_index=True)
    oxide_types = [oxide_type_guess(c) for c in table["composition"]]
    corrections, errors = mp2020_corrections(
        list(table["composition"]),
        list(table["energy"]),
        oxide_types=oxide_types,
        progress=progress,
    )
    table["kind"] = KIND_MATERIAL
    table["scale_flag"] = [
        scale_flag(c, t) for c, t in zip(table["composition"], oxide_types, strict=True)
    ]
    refused = [(mid, err) for mid, err in zip(table["material_id"], errors, strict=True) if err]
    if refused:
        log.warning("MP2020 refused %d entries (dropped), first: %s", len(refused), refused[0])
    table["correction"] = corrections
    table = table[np.isfinite(table["correction"])].copy()
    table["energy_per_atom"] = (table["energy"] + table["correction"]) / table["n_sites"]
    table = table[COLUMNS].reset_index(drop=True)
    if mp20_rows is None:
        return table
    rows = pd.read_csv(mp20_rows)
    mu = elemental_references(table)
    extra = mp20_supplement_rows(rows, table["material_id"], mu)
    extra = extra.assign(kind=KIND_MATERIAL, scale_flag="")
    table = pd.concat([table, extra[COLUMNS]], ignore_index=True)
    points = mp_hull_points(rows, mu)
    rows["energy_per_atom"] = energy_from_formation(
        rows["composition"].tolist(), rows["formation_energy_per_atom"].tolist(), mu
    )
    table, changes = reconcile_with_mp20(table, rows, points)
    log.info("MP-20 values replaced %d entries:\n%s", len(changes), changes.to_string())
    table, bounds, unresolved = bound_by_mp20(table, points)
    log.info("raised onto MP-20's bound: %d entries:\n%s", len(bounds), bounds.to_string())
    if unresolved:
        log.warning("hull > 25 meV/atom below MP's, nothing adjustable: %s", unresolved)
    stored = informative_points(points, table)
    log.info("%d derived hull points, %d lower the hull and are stored", len(points), len(stored))
    return pd.concat([table, stored[COLUMNS]], ignore_index=True)


def write_csv_gz(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as gzipped CSV, byte-identical for identical content."""
    # Fixed float format and no gzip name/timestamp keep rebuilds byte-identical.
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh,
    ):
        fh.write(table.to_csv(index=False, float_format="%.8f").encode())


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: rebuild the cached ``mp2021`` table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MP2021_FILE)
    parser.add_argument(
        "--extract-mp20",
        type=Path,
        metavar="DIR",
        help="first rewrite the MP-20 vertex extract from the MP-20 *.csv.gz files in DIR",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.extract_mp20 is not None:
        files = sorted(args.extract_mp20.glob("*.csv.gz"))
        rows = extract_mp20_rows(files)
        write_csv_gz(rows, MP20_ROWS_FILE)
        log.info("wrote %d MP-20 rows from %d files", len(rows), len(files))
    table = build_mp2021_table(progress=True)
    write_csv_gz(table, args.out)
    log.info("wrote %d rows to %s", len(table), args.out)


if __name__ == "__main__":
    main()
