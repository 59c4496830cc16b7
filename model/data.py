"""Crystal datasets for the generator: CDVAE-style CSVs, CIF folders, extxyz, bundled splits.

Every loader returns a :class:`Dataset`: the structures that parsed, their ids, numeric
per-row properties (for conditioning, e.g. formation energy or band gap) and one
:class:`FailedRow` per row that did not parse (a malformed CIF is quarantined with its reason;
the other rows go on). Parsing is :mod:`genflow.core.structure_io`'s; this module only turns
its rows into datasets.

Bundled data (``model/data``, see its README for source, licence and size) are addressed by
name: ``"perov_5"``, ``"carbon_24"``, ``"mp_20"``, optionally with a split,
``"mp_20:val"``. Only the CDVAE test/val splits of Perov-5 and Carbon-24 and subsets of MP-20
are bundled (see the README); a name without a split loads every bundled split, with rows
that occur in two files (same ``material_id``) kept once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from genflow.core.structure_io import StructureRow, read_structures, rows_from_table
from genflow.core.structure_io.formats import read_cif

__all__ = [
    "BUNDLED",
    "DATA_DIR",
    "Dataset",
    "FailedRow",
    "bundled_paths",
    "concat",
    "load_cif_dir",
    "load_csv",
    "load_dataset",
    "load_extxyz",
    "parse_cif",
    "portable_path",
]

DATA_DIR = Path(__file__).parent / "data"

# name -> split -> files under DATA_DIR. MP-20 "val" is the first 1000 CDVAE val rows plus
# every binary/ternary val row; the two files overlap and are de-duplicated by material_id.
BUNDLED: dict[str, dict[str, tuple[str, ...]]] = {
    "perov_5": {"test": ("perov_5/test.csv.gz",), "val": ("perov_5/val.csv.gz",)},
    "carbon_24": {"test": ("carbon_24/test.csv.gz",), "val": ("carbon_24/val.csv.gz",)},
    "mp_20": {
        "train": ("mp_20/train.csv.gz",),
        "val": ("mp_20/val.csv.gz", "mp_20/val_biternary.csv.gz"),
        "test": ("mp_20/test.csv.gz",),
    },
}


@dataclass(frozen=True)
class FailedRow:
    """A row (CSV line, CIF file, extxyz frame) that could not be used, and why."""

    source: str
    row: int | str
    reason: str
    material_id: str | None = None


@dataclass(frozen=True)
class Dataset:
    """Parsed structures plus per-row properties and failures.

    ``structures``, ``ids`` and every array in ``properties`` are aligned.
    """

    name: str
    structures: tuple[Structure, ...]
    ids: tuple[str, ...]
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    failures: tuple[FailedRow, ...] = ()
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.structures)

    @property
    def elements(self) -> set[str]:
        """Element symbols occurring in the dataset."""
        return {el.symbol for s in self.structures for el in s.composition.elements}


def parse_cif(text: str) -> Structure:
    """Parse one CIF block into a ``Structure`` (conventional cell as given).

    Raises ``ValueError`` with the reason (malformed CIF with pymatgen's warnings, unknown
    element, partially occupied site) when the CIF cannot be used.
    """
    row = next(read_cif("cif", text if isinstance(text, str) else ""))
    if not row.ok:
        raise ValueError(row.reason)
    return row.structure


def _failure(row: StructureRow, index: int | str, material_id: str | None) -> FailedRow:
    return FailedRow(row.source, index, row.reason or "", material_id)


def _numeric_properties(df: pd.DataFrame, skip: Iterable[str]) -> dict[str, np.ndarray]:
    skip = set(skip)
    out = {}
    for col in df.columns:
        if col in skip or str(col).startswith("Unnamed") or col == "":
            continue
        if pd.api.types.is_numeric_dtype(df[col]):
            out[str(col)] = df[col].to_numpy(dtype=np.float64)
    return out


def load_csv(
    path: str | Path,
    *,
    cif_column: str = "cif",
    id_column: str = "material_id",
    limit: int | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a CDVAE-style CSV (plain or ``.gz``) whose ``cif`` column holds one CIF per row.

    Parameters
    ----------
    path
        CSV file (Perov-5, Carbon-24, MP-20 layout: ``material_id``, ``cif``, properties).
    cif_column, id_column
        Column names; without an id column the row number is the id.
    limit
        Read only the first ``limit`` rows.
    name
        Dataset name (defaults to the file name).

    Returns
    -------
    Dataset
        Numeric columns (other than pandas' unnamed index) become ``properties``.
    """
    path = Path(path)
    df = pd.read_csv(path, nrows=limit)
    if cif_column not in df.columns:
        raise ValueError(
            f"{path}: no {cif_column!r} column (columns: {', '.join(map(str, df.columns))})"
        )
    ids = df[id_column].astype(str).tolist() if id_column in df.columns else None
    props = _numeric_properties(df, skip=[cif_column, id_column])
    rows = rows_from_table(
        df, path.name, cif_column=cif_column, id_column=id_column, source=str(path)
    )
    structures, keep, failures = [], [], []
    for i, row in enumerate(rows):
        if row.ok:
            structures.append(row.structure)
            keep.append(i)
        else:
            failures.append(_failure(row, i, ids[i] if ids else str(i)))
    return Dataset(
        name or path.name.split(".")[0],
        tuple(structures),
        tuple(ids[i] if ids else str(i) for i in keep),
        {k: v[keep] for k, v in props.items()},
        tuple(failures),
        (str(path),),
    )


def load_cif_dir(path: str | Path, *, name: str | None = None) -> Dataset:
    """Load every ``*.cif`` / ``*.cif.gz`` file in a folder (sorted by name; id = file stem).

    A file holding several data blocks contributes only its first structure.
    """
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.name.endswith((".cif", ".cif.gz")))
    if not files:
        raise ValueError(f"{path}: no .cif or .cif.gz files")
    structures, ids, failures = [], [], []
    for f in files:
        stem = f.name.removesuffix(".gz").removesuffix(".cif")
        row = next(read_structures(f))  # the first data block
        if row.ok:
            structures.append(row.structure)
            ids.append(stem)
        else:
            failures.append(_failure(row, f.name, stem))
    return Dataset(
        name or path.name, tuple(structures), tuple(ids), {}, tuple(failures), (str(path),)
    )


def load_extxyz(path: str | Path, *, name: str | None = None) -> Dataset:
    """Load periodic frames from an (optionally gzipped) extended-XYZ file via ASE.

    Scalar numeric ``info`` entries present in every good frame become properties. A frame
    that is not fully periodic or does not parse is a failure and the next frame goes on; a
    frame without an atom-count line ends reading (the file cannot be resynchronised).
    """
    path = Path(path)
    structures, ids, infos, failures = [], [], [], []
    for i, row in enumerate(read_structures(path)):
        if not row.ok:
            failures.append(_failure(row, i, None))
            continue
        info = row.structure.properties
        structures.append(row.structure)
        ids.append(str(info.get("material_id", info.get("id", i))))
        infos.append(info)
    keys = {k for info in infos for k, v in info.items() if isinstance(v, int | float)}
    props = {
        k: np.array([float(info[k]) for info in infos])
        for k in sorted(keys)
        if all(isinstance(info.get(k), int | float) for info in infos)
    }
    return Dataset(
        name or path.name.split(".")[0],
        tuple(structures),
        tuple(ids),
        props,
        tuple(failures),
        (str(path),),
    )


def concat(datasets: Sequence[Dataset], name: str | None = None, dedupe: bool = True) -> Dataset:
    """Join datasets; with ``dedupe`` an id seen before is skipped. Properties missing from
    one part are NaN for its rows."""
    keys = sorted({k for d in datasets for k in d.properties})
    structures, ids, props = [], [], {k: [] for k in keys}
    seen: set[str] = set()
    for d in datasets:
        for j, (s, i) in enumerate(zip(d.structures, d.ids, strict=True)):
            if dedupe and i in seen:
                continue
            seen.add(i)
            structures.append(s)
            ids.append(i)
            for k in keys:
                props[k].append(d.properties[k][j] if k in d.properties else np.nan)
    return Dataset(
        name or "+".join(d.name for d in datasets),
        tuple(structures),
        tuple(ids),
        {k: np.asarray(v, dtype=np.float64) for k, v in props.items()},
        tuple(f for d in datasets for f in d.failures),
        tuple(s for d in datasets for s in d.sources),
    )


def _normalise_name(name: str) -> str:
    """``"Perov-5/test"`` -> ``"perov_5:test"``."""
    return name.strip().lower().replace("-", "_").replace("/", ":")


def bundled_paths(name: str) -> list[Path]:
    """Files behind a bundled dataset name such as ``"mp_20"`` or ``"perov_5:test"``."""
    base, _, split = _normalise_name(name).partition(":")
    if base not in BUNDLED:
        raise ValueError(f"unknown bundled dataset {name!r}; bundled: {', '.join(BUNDLED)}")
    splits = BUNDLED[base]
    if split and split not in splits:
        raise ValueError(
            f"dataset {base} has no bundled split {split!r}; have: {', '.join(splits)}"
        )
    chosen = [split] if split else list(splits)
    return [DATA_DIR / f for s in chosen for f in splits[s]]


def load_dataset(name_or_path: str | Path, *, limit: int | None = None) -> Dataset:
    """Load a bundled dataset by name, or a CSV / CIF folder / extxyz file by path.

    Parameters
    ----------
    name_or_path
        ``"perov_5"``, ``"carbon_24"``, ``"mp_20"`` (optionally ``":train"``, ``":val"``,
        ``":test"``), a ``.csv``/``.csv.gz`` file, a folder of CIFs, or an ``.extxyz``/``.xyz``
        file (optionally ``.gz``).
    limit
        For CSVs, read at most this many rows per file.
    """
    text = str(name_or_path)
    path = Path(text)
    if not path.exists() and _normalise_name(text).partition(":")[0] in BUNDLED:
        parts = [load_csv(p, limit=limit) for p in bundled_paths(text)]
        return concat(parts, name=text)
    if path.is_dir():
        return load_cif_dir(path)
    if not path.exists():
        raise ValueError(
            f"dataset {text!r} is neither a file, a folder, nor a bundled name "
            f"({', '.join(BUNDLED)})"
        )
    low = path.name.lower().removesuffix(".gz")
    if low.endswith(".csv"):
        return load_csv(path, limit=limit)
    if low.endswith((".extxyz", ".xyz")):
        return load_extxyz(path)
    if low.endswith(".cif"):
        rows = list(read_structures(path))
        good = [r for r in rows if r.ok]
        return Dataset(
            path.stem,
            tuple(r.structure for r in good),
            tuple(r.key.removesuffix(".gz").removesuffix(".cif") for r in good),
            {},
            tuple(_failure(r, r.key, None) for r in rows if not r.ok),
            (str(path),),
        )
    raise ValueError(f"{path}: unknown dataset format (want .csv[.gz], .extxyz, .cif or a folder)")


def portable_path(path: str | Path) -> str:
    """Record bundled data as ``genflow.model:data/...`` so checkpoints carry no local paths.

    Both models' training data records (``meta["data"]["sources"]``) go through this.
    """
    bundled = Path(__file__).resolve().parent / "data"
    try:
        return "genflow.model:data/" + Path(path).resolve().relative_to(bundled).as_posix()
    except ValueError:
        return str(path)
