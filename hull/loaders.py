"""Reference hulls by name or path: ``mp2021`` (bundled), ``gnome``, user files, ``mp-api:``.

``load_hull(name_or_path)`` is the one entry point; every hull it returns holds
MP2020-compatible energies per atom, except user files, which are taken as given.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from genflow.core.chem import CompositionError, parse_composition
from genflow.hull.derived import HULL_POINT_SOURCE, HULL_POINT_TAG
from genflow.hull.io import read_table
from genflow.hull.keys import HullColumn
from genflow.hull.paths import MP2021_FILE
from genflow.hull.reference import ReferenceHull
from genflow.hull.scheme import pp_offset_per_atom
from genflow.hull.supplement import SUPPLEMENT_SOURCE, SUPPLEMENT_TAG

__all__ = ["hull_name_error", "load_gnome", "load_hull", "load_mp2021", "load_reference_file"]

log = logging.getLogger(__name__)

MP2021_SCHEME = "MP2020-compatible (GNoME MP snapshot, corrected with pymatgen MP2020)"
MP2021_SUPPLEMENT_SCHEME = (
    "MP2020-compatible (GNoME MP snapshot, corrected with pymatgen MP2020, MP-20's values "
    "where they differ; plus MP-20 hull vertices missing from it and MP hull points derived "
    "from MP-20 rows, from MP2020-corrected formation energies)"
)
#: ``source`` values of the pure snapshot hull (``mp2021-snapshot``).
_SNAPSHOT_SOURCES = ("gnome_mp_snapshot", "mp_elemental_reference")
#: ``load_hull`` name of the bundled MP hull without the MP-20 supplement.
MP2021_SNAPSHOT = "mp2021-snapshot"
#: Named hulls whose energies are in the MP2020-compatible scheme: engines whose energies are not
#: (GPAW) must not be scored against them without an explicit override.
MP_COMPATIBLE_HULLS = frozenset({"mp2021", MP2021_SNAPSHOT, "gnome"})

#: GNoME summary columns the loader needs (DATASET.md, "Properties").
GNOME_REQUIRED = ("Composition", "NSites", "Corrected Energy")


def load_hull(name_or_path: str | Path) -> ReferenceHull:
    """Load a reference hull by name or path.

    Parameters
    ----------
    name_or_path : str or Path
        ``"mp2021"`` (bundled MP snapshot, MP2020-corrected, plus the MP-20 supplement of
        MP hull vertices the snapshot lacks and MP hull points derived from MP-20 rows),
        ``"mp2021-snapshot"`` (the snapshot alone),
        ``"gnome"`` (GNoME summary
        CSVs from ``GENFLOW_GNOME_SUMMARY_PATH`` / ``GENFLOW_GNOME_EXTERNAL_SUMMARY_PATH``,
        merged with ``mp2021``), ``"mp-api:<chemsys>"`` (e.g. ``mp-api:Li-Fe-O``, needs
        ``GENFLOW_MP_API_KEY``), or a CSV/JSON file of reference entries with
        ``composition`` and ``energy_per_atom`` (or total ``energy``), taken as given.

    Returns
    -------
    ReferenceHull

    Raises
    ------
    FileNotFoundError
        For an unknown name that is not an existing file, or a ``gnome`` hull whose summary
        path is not configured.
    """
    name = str(name_or_path)
    if name == "mp2021":
        return load_mp2021()
    if name == MP2021_SNAPSHOT:
        return load_mp2021(supplement=False)
    if name == "gnome":
        return _load_gnome_cached(*_gnome_files())
    if name.startswith("mp-api:"):
        from genflow.hull.mp_api import build_mp_api_hull

        return build_mp_api_hull(name.split(":", 1)[1])
    path = Path(name).expanduser()
    if path.is_file():
        return load_reference_file(path)
    raise FileNotFoundError(
        f"unknown hull {name!r}: expected 'mp2021', '{MP2021_SNAPSHOT}', 'gnome', "
        "'mp-api:<chemsys>' or an existing CSV/JSON file of reference entries"
    )


def hull_name_error(name: str) -> str | None:
    """Why :func:`load_hull` cannot load ``name`` here (None: it resolves), without loading it.

    Checks what can be checked cheaply and offline: the name is known, a ``gnome`` hull has
    its summary file configured and present, an ``mp-api:`` hull has a key and a valid
    chemical system, a file exists. A spec names its hulls once; this runs at load so a typo
    fails before any candidate is written.
    """
    from genflow.core.settings import get_settings

    name = str(name)
    if name in ("mp2021", MP2021_SNAPSHOT):
        return None
    if name == "gnome":
        path = get_settings().GNOME_SUMMARY_PATH
        if path is None:
            return "hull 'gnome' needs GENFLOW_GNOME_SUMMARY_PATH (GNoME's summary CSV)"
        if not Path(path).expanduser().is_file():
            return f"hull 'gnome': GENFLOW_GNOME_SUMMARY_PATH {str(path)!r} does not exist"
        return None
    if name.startswith("mp-api:"):
        from genflow.core.chem import chemsys_string

        try:
            chemsys_string(name.split(":", 1)[1])
        except ValueError as exc:
            return f"hull {name!r}: {exc}"
        if not get_settings().MP_API_KEY:
            return f"hull {name!r} needs GENFLOW_MP_API_KEY (a Materials Project API key)"
        return None
    if Path(name).expanduser().is_file():
        return None
    return (
        f"unknown hull {name!r}: expected 'mp2021', '{MP2021_SNAPSHOT}', 'gnome', "
        "'mp-api:<chemsys>' or an existing CSV/JSON file of reference entries"
    )


def load_mp2021(*, supplement: bool = True) -> ReferenceHull:
    """The bundled Materials Project hull (GNoME's MP snapshot), MP2020-corrected.

    Reads the cached table written by ``python -m genflow.hull.build_mp2021``: 31,835
    snapshot vertices plus 11 MP elemental references, the MP-20 supplement (590 MP-20
    hull vertices the snapshot lacks) and derived MP hull points (``genflow.hull.derived``;
    see ``hull/data/README.md``). Cached per process.

    Parameters
    ----------
    supplement : bool
        Include the MP-20 supplement and hull points (hull name ``mp2021``, ids tagged
        ``"mp-XXXX (MP-20 supplement)"`` / ``"mp-XXXX (MP-20 hull point)"``: the latter are
        MP hull energies at a composition, not materials); False gives the pure snapshot
        (``mp2021-snapshot``; its MP2020 scale fixes from MP-20 are kept).
    """
    return _load_mp2021_cached(bool(supplement))


@functools.lru_cache(maxsize=2)
def _load_mp2021_cached(supplement: bool) -> ReferenceHull:
    table = _mp2021_table(supplement)
    tags = table["source"].map(
        {SUPPLEMENT_SOURCE: SUPPLEMENT_TAG, HULL_POINT_SOURCE: HULL_POINT_TAG}
    )
    ids = table["material_id"] + tags.fillna("")
    return ReferenceHull(
        table["composition"].tolist(),
        table["energy_per_atom"].to_numpy(),
        ids=ids.tolist(),
        formulas=table["formula"].tolist(),
        name="mp2021" if supplement else MP2021_SNAPSHOT,
        scheme=MP2021_SUPPLEMENT_SCHEME if supplement else MP2021_SCHEME,
    )


def _tagged_ids(table: pd.DataFrame) -> pd.Series:
    """Entry ids that say what a row is: ``(MP-20 supplement)`` / ``(MP-20 hull point)``."""
    tags = table["source"].map(
        {SUPPLEMENT_SOURCE: SUPPLEMENT_TAG, HULL_POINT_SOURCE: HULL_POINT_TAG}
    )
    return table["material_id"] + tags.fillna("")


def _mp2021_table(supplement: bool = True) -> pd.DataFrame:
    """The cached ``mp2021`` table, with or without its MP-20 supplement and hull points."""
    table = pd.read_csv(MP2021_FILE)
    table["scale_flag"] = table["scale_flag"].fillna("")
    if not supplement:
        table = table[table["source"].isin(_SNAPSHOT_SOURCES)].reset_index(drop=True)
    return table


def load_reference_file(path: str | Path, *, name: str | None = None) -> ReferenceHull:
    """A hull from a CSV or JSON file of reference entries, taken as given (no corrections).

    Parameters
    ----------
    path : str or Path
        CSV, or JSON (list of records, column dict, or pymatgen entry dicts), with a
        ``composition`` column and ``energy_per_atom`` (eV/atom) or total ``energy`` (eV).
        An optional ``material_id`` (or ``id``) column names the entries.
    name : str, optional
        Hull name; default is the file name.
    """
    path = Path(path)
    table = read_table(path)
    if HullColumn.composition not in table:
        raise ValueError(
            f"{path}: no {HullColumn.composition!r} column (have {list(table.columns)})"
        )
    compositions = table[HullColumn.composition].tolist()
    if HullColumn.energy_per_atom in table:
        energies = pd.to_numeric(table[HullColumn.energy_per_atom], errors="coerce").to_numpy()
    elif HullColumn.energy in table:
        energies = _per_atom(compositions, pd.to_numeric(table[HullColumn.energy], errors="coerce"))
    else:
        raise ValueError(
            f"{path}: needs {HullColumn.energy_per_atom!r} (eV/atom) or {HullColumn.energy!r} (eV)"
        )
    id_col = next((c for c in (HullColumn.material_id, "id", "entry_id") if c in table), None)
    ids = table[id_col].astype(str).tolist() if id_col else None
    return ReferenceHull(
        compositions, energies, ids=ids, name=name or path.name, scheme="as given (user file)"
    )


def _file_key(path: str | Path | None) -> tuple[str, float] | None:
    """(path, mtime) so that replacing a file invalidates the cached hull."""
    if path is None:
        return None
    p = Path(path)
    return str(p), (p.stat().st_mtime if p.is_file() else -1.0)


def _gnome_files() -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
    """Cache keys of the configured GNoME summary and external files."""
    from genflow.core.settings import get_settings

    settings = get_settings()
    return _file_key(settings.GNOME_SUMMARY_PATH), _file_key(settings.GNOME_EXTERNAL_SUMMARY_PATH)


@functools.lru_cache(maxsize=2)
def _load_gnome_cached(
    summary: tuple[str, float] | None, external: tuple[str, float] | None
) -> ReferenceHull:
    if summary is None:
        return load_gnome()  # raises the "set GENFLOW_GNOME_SUMMARY_PATH" error
    return load_gnome(summary[0], external[0] if external else None)


def load_gnome(
    summary_path: str | Path | None = None,
    external_path: str | Path | None = None,
    *,
    include_mp: bool = True,
    scheme: Literal["auto", "mp2020", "raw"] = "auto",
) -> ReferenceHull:
    """GNoME's hull from ``stable_materials_summary.csv`` (+ ``external_materials_summary.csv``).

    Parameters
    ----------
    summary_path, external_path : str or Path, optional
        GNoME CSVs in the DATASET.md column format (``Composition``, ``MaterialId``,
        ``NSites``, ``Corrected Energy``, ...). Default: settings ``GNOME_SUMMARY_PATH`` and
        ``GNOME_EXTERNAL_SUMMARY_PATH``.
    include_mp : bool
        Merge the bundled ``mp2021`` entries, MP-20 supplement included (GNoME's own hulls
        are MP + GNoME).
    scheme : {"auto", "mp2020", "raw"}
        Scheme of ``Corrected Energy``. "mp2020" takes it as MP2020-corrected (what
        DATASET.md says); "raw" applies MP2020 corrections (what GNoME's MP snapshot needed);
        "auto" uses "raw" when an ``UnCorrected Energy`` column equals ``Corrected Energy``
        on every row, else "mp2020".

    Notes
    -----
    GNoME computed Ga, Ge, Li, Mg and Na with other pseudopotentials than MP and publishes
    per-atom offsets (``GNOME_PP_CORRECTIONS``) that move MP energies onto its POTCARs.
    Candidates here are MP-compatible, so the offsets are subtracted from GNoME rows.
    """
    from genflow.core.settings import get_settings

    settings = get_settings()
    summary_path = summary_path or settings.GNOME_SUMMARY_PATH
    external_path = external_path or settings.GNOME_EXTERNAL_SUMMARY_PATH
    if summary_path is None:
        raise FileNotFoundError(
            "gnome hull: set GENFLOW_GNOME_SUMMARY_PATH to GNoME's stable_materials_summary.csv "
            "(download it as described in GNoME's DATASET.md; it is not bundled)"
        )
    frames = [_read_gnome(Path(summary_path), scheme)]
    if external_path is not None:
        frames.append(_read_gnome(Path(external_path), scheme))
    if include_mp:
        mp = _mp2021_table(supplement=True)
        mp = mp.assign(material_id=_tagged_ids(mp))
        frames.append(mp[["material_id", "composition", "formula", "energy_per_atom"]])
    table = pd.concat(frames, ignore_index=True)
    used = ", ".join(sorted({f.attrs.get("scheme", "mp2021") for f in frames}))
    return ReferenceHull(
        table["composition"].tolist(),
        table["energy_per_atom"].to_numpy(),
        ids=table["material_id"].astype(str).tolist(),
        formulas=table["formula"].tolist(),
        name="gnome",
        scheme=f"MP2020-compatible (GNoME: {used}; MP POTCAR offsets restored)",
    )


def _read_gnome(path: Path, scheme: str) -> pd.DataFrame:
    """One GNoME summary CSV as (material_id, composition, formula, energy_per_atom)."""
    df = pd.read_csv(path)
    missing = [c for c in GNOME_REQUIRED if c not in df]
    if missing:
        raise ValueError(f"{path}: not a GNoME summary file, missing columns {missing}")
    energy = pd.to_numeric(df["Corrected Energy"], errors="coerce").to_numpy(dtype=float)
    n_sites = pd.to_numeric(df["NSites"], errors="coerce").to_numpy(dtype=float)
    if scheme == "auto":
        scheme = "mp2020"
        if "UnCorrected Energy" in df:
            raw = pd.to_numeric(df["UnCorrected Energy"], errors="coerce").to_numpy(dtype=float)
            if np.allclose(raw, energy, atol=1e-6, equal_nan=True):
                scheme = "raw"
        else:
            log.info(
                "%s: no 'UnCorrected Energy' column; taking 'Corrected Energy' as MP2020", path
            )
    if scheme == "raw":
        from genflow.hull.scheme import mp2020_corrections

        corrections, _ = mp2020_corrections(
            df["Composition"].tolist(), energy, progress=len(df) > 5000
        )
        energy = energy + corrections
    elif scheme != "mp2020":
        raise ValueError(f"unknown GNoME energy scheme {scheme!r}")
    per_atom = energy / n_sites - pp_offset_per_atom(df["Composition"].tolist())
    out = pd.DataFrame(
        {
            "material_id": df["MaterialId"]
            if "MaterialId" in df
            else [f"{path.name}:{i}" for i in range(len(df))],
            "composition": df["Composition"],
            "formula": df.get("Reduced Formula"),
            "energy_per_atom": per_atom,
        }
    )
    out.attrs["scheme"] = f"{path.name} {scheme}"
    return out


def _per_atom(compositions: list, energies: pd.Series) -> np.ndarray:
    """Total energies (eV) → eV/atom; NaN where the composition cannot be parsed."""
    out = np.full(len(compositions), np.nan)
    for i, (comp, e) in enumerate(zip(compositions, energies, strict=True)):
        try:
            out[i] = float(e) / sum(a for _, a in parse_composition(comp))
        except (CompositionError, TypeError, ValueError):
            continue
    return out
