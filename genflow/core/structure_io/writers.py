"""Writing structures: extxyz, a JSON list, one CIF file, or a folder of CIFs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pymatgen.core import Structure

__all__ = ["output_format", "write_structures"]


def output_format(out: str | Path) -> str:
    """``"extxyz"``, ``"json"``, ``"cif"`` or ``"cif-dir"`` by ``out``'s name.

    A name without a suffix (or an existing directory) is a folder of CIFs.

    Raises
    ------
    ValueError
        For any other suffix.
    """
    out = Path(out)
    name = out.name.lower()
    for suffix, fmt in ((".extxyz", "extxyz"), (".json", "json"), (".cif", "cif")):
        if name.endswith(suffix) and not out.is_dir():
            return fmt
    if out.suffix and not out.is_dir():
        raise ValueError(f"unknown format {out.suffix!r}; use .extxyz, .json, .cif or a directory")
    return "cif-dir"


def write_structures(structures: Sequence[Structure], out: str | Path) -> str:
    """Write structures by ``out``'s name; return the format used (:func:`output_format`).

    ``*.extxyz`` (ASE extended XYZ; scalar ``structure.properties`` go to ``info``),
    ``*.json`` (a list of ``Structure.as_dict()``), ``*.cif`` (one file, one data block per
    structure), anything else a directory with one CIF each (``sample_0000.cif``, ...).
    Every one of them reads back with :func:`genflow.core.structure_io.read_structures`.
    """
    from pymatgen.io.cif import CifWriter

    out = Path(out)
    fmt = output_format(out)
    if fmt == "cif-dir":
        out.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(structures):
            CifWriter(s).write_file(out / f"sample_{i:04d}.cif")
        return fmt
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "extxyz":
        from ase.io import write
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = []
        for s in structures:
            a = AseAtomsAdaptor.get_atoms(s)
            a.info = {k: v for k, v in s.properties.items() if isinstance(v, int | float | str)}
            atoms.append(a)
        write(out, atoms, format="extxyz")
    elif fmt == "json":
        out.write_text(json.dumps([s.as_dict() for s in structures]))
    else:
        blocks = [
            str(CifWriter(s)).replace("data_", f"data_{i}_", 1) for i, s in enumerate(structures)
        ]
        out.write_text("".join(blocks))
    return fmt
