"""Sets of structures to evaluate: any file genflow reads, or a bundled split by name.

A :class:`StructureSet` keeps every input record in order; a record that could not be read
stays as a row with ``structure`` None and its ``error`` (it counts as invalid, as CDVAE counts
a crystal it cannot construct). Energies per atom come from the records when they carry one
(extxyz ``info['energy_per_atom']`` / ``info['energy']``, a calculator result).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pymatgen.core import Structure

from genflow.core.structure_io import UnreadableSummary, summarize_unreadable

__all__ = ["DATASET_OF", "StructureSet", "dataset_of", "load_set"]

# bundled dataset base name → CDVAE's ``eval_model_name`` (it keys COV cutoffs)
DATASET_OF = {"perov_5": "perovskite", "carbon_24": "carbon", "mp_20": "mp20"}


@dataclass(frozen=True)
class StructureSet:
    """Rows of one input: keys, structures (None if unreadable), errors, energies (eV/atom)."""

    name: str
    keys: tuple[str, ...]
    structures: tuple[Structure | None, ...]
    errors: tuple[str | None, ...]
    energies: tuple[float | None, ...]
    #: how many rows had no structure and the first distinct reasons (what a user reads first
    #: when a peer's file does not come in as expected)
    unreadable: UnreadableSummary = field(default=UnreadableSummary(0, 0, ()))

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def ok(self) -> list[Structure]:
        """The structures that were read."""
        return [s for s in self.structures if s is not None]


def _energy(structure: Structure) -> float | None:
    props = getattr(structure, "properties", None) or {}
    for key in ("energy_per_atom", "e_per_atom"):
        if key in props and props[key] is not None and math.isfinite(float(props[key])):
            return float(props[key])
    if props.get("energy") is not None and math.isfinite(float(props["energy"])) and len(structure):
        return float(props["energy"]) / len(structure)
    return None


def dataset_of(name: str) -> str | None:
    """CDVAE's dataset name (``perovskite``, ``carbon``, ``mp20``) for a bundled split name."""
    base = name.strip().lower().replace("-", "_").replace("/", ":").partition(":")[0]
    return DATASET_OF.get(base)


def load_set(
    source: str | Path, *, limit: int | None = None, column: str | None = None
) -> StructureSet:
    """Read a set: a file or folder of any structure format, or a bundled split name.

    Parameters
    ----------
    source
        A path (CIF/folder/zip/JSON/extxyz/POSCAR/CSV/``eval_gen.pt``) or a bundled split
        such as ``perov_5:test`` / ``mp_20:train``.
    limit
        Keep only the first ``limit`` rows.
    column
        The structure column of a CSV / parquet table (None: found by its content).
    """
    path = Path(source)
    if not path.exists() and dataset_of(str(source)):
        from genflow.model.data import load_dataset

        ds = load_dataset(str(source), limit=limit)
        structs = list(ds.structures)[:limit]
        keys = tuple(ds.ids[: len(structs)])
        none = (None,) * len(structs)
        ok = UnreadableSummary(len(structs), 0, ())
        return StructureSet(str(source), keys, tuple(structs), none, none, ok)
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such file, folder or bundled split")
    from genflow.core.structure_io import read_structures

    keys, structs, errors, energies, rows = [], [], [], [], []
    for row in read_structures(path, column=column):
        if limit is not None and len(keys) >= limit:
            break
        rows.append(row)
        keys.append(row.key)
        structs.append(row.structure if row.ok else None)
        errors.append(row.error)
        energies.append(_energy(row.structure) if row.ok else None)
    return StructureSet(
        path.name, tuple(keys), tuple(structs), tuple(errors), tuple(energies),
        summarize_unreadable(rows),
    )  # fmt: skip
