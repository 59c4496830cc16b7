"""Readers of one file's content, one per format; each yields one row per record.

Every reader takes the file's ``name`` (used in keys and reasons) and its text, and yields
:class:`~genflow.core.structure_io.rows.StructureRow` rows in file order. pymatgen and ASE do
the parsing; these functions only cut a file into records and name them. Tables (CSV,
parquet) are :mod:`.tables`, which reads their cells with the parsers here.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
from pymatgen.core import Structure

from genflow.core.chem import unknown_symbols
from genflow.core.structure_io.rows import StructureRow, error_row, parsed_row, record_key

__all__ = [
    "cif_formula_sum",
    "read_cif",
    "read_extxyz",
    "read_json",
    "read_poscar",
    "structure_from_dict",
]

_DATA_BLOCK = re.compile(r"^data_", re.MULTILINE)
_FORMULA_SUM = re.compile(r"^_chemical_formula_sum\s+'?([^'\n]+?)'?\s*$", re.MULTILINE)


def cif_formula_sum(cif: str) -> str | None:
    """The ``_chemical_formula_sum`` value of a CIF (``"Mg4 O4"``), read without a CIF parse.

    None when the CIF has no such line. Cheap enough for tens of thousands of bundled CIFs,
    where a full parse would dominate.
    """
    match = _FORMULA_SUM.search(cif)
    return None if match is None else match.group(1)


def _cif_blocks(text: str) -> list[str]:
    """The ``data_`` blocks of a CIF, each as its own text (the whole text if there is none)."""
    starts = [m.start() for m in _DATA_BLOCK.finditer(text)]
    if not starts:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _parse_cif(text: str) -> Structure:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty CIF")
    return Structure.from_str(text, fmt="cif")


def read_cif(name: str, text: str, source: str | None = None) -> Iterator[StructureRow]:
    """Every data block of a CIF (conventional cell as given), one row each."""
    blocks = _cif_blocks(text)
    for i, block in enumerate(blocks):
        key = record_key(name, i, len(blocks))
        yield parsed_row(key, source or name, block, "CIF", partial(_parse_cif, block))


def structure_from_dict(data: Any) -> Structure:
    """A ``Structure`` from its dict (or an entry dict holding one under ``"structure"``).

    Symbols that are not elements raise ``ValueError("'Xx' is not a valid Element")``, which
    :func:`~genflow.core.structure_io.rows.parsed_row` reports as unknown elements.
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected a structure dict, got {type(data).__name__}")
    if "sites" not in data and isinstance(data.get("structure"), dict):
        data = data["structure"]
    symbols = [
        sp.get("element") for site in data.get("sites", []) for sp in site.get("species", [])
    ]
    if unknown := unknown_symbols(s for s in symbols if s is not None):
        raise ValueError(f"'{unknown[0]}' is not a valid Element")
    return Structure.from_dict(data)


def read_json(name: str, text: str, source: str | None = None) -> Iterator[StructureRow]:
    """pymatgen JSON: one structure dict, a list of them, or ``{"structures": [...]}``."""
    source = source or name
    try:
        data = json.loads(text)
    except ValueError as exc:
        yield error_row(name, f"malformed JSON: {exc}", source=source, raw=text)
        return
    if isinstance(data, dict) and isinstance(data.get("structures"), list):
        data = data["structures"]
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        key = record_key(name, i, len(items))
        raw = json.dumps(item) if len(items) > 1 else text
        yield parsed_row(key, source, raw, "structure dict", partial(structure_from_dict, item))


def _extxyz_frames(text: str) -> Iterator[tuple[str, bool]]:
    """Cut extxyz text into frames: ``(frame text, resynchronised)``.

    A frame is a count line, a comment line and that many atom lines. A count line that is
    not a number ends the cut: the rest of the file is one (bad) frame.
    """
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        head = lines[i].split()
        if len(head) != 1 or not head[0].isdigit():
            yield "\n".join(lines[i:]) + "\n", False
            return
        n = int(head[0])
        yield "\n".join(lines[i : i + n + 2]) + "\n", True
        i += n + 2


def _frame_structure(frame: str) -> Structure:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    lines = frame.splitlines()
    if len(lines) < 2 or len(lines) - 2 != int(lines[0].split()[0]):
        raise ValueError(f"frame promises {lines[0].strip()} atoms and has {len(lines) - 2}")
    try:
        atoms = read(io.StringIO(frame), format="extxyz")
    except KeyError as exc:  # ASE's reaction to a symbol that is not an element
        species = [line.split()[0] for line in lines[2:] if line.split()]
        if unknown := unknown_symbols(species):
            raise ValueError(f"'{unknown[0]}' is not a valid Element") from exc
        raise
    if not all(atoms.pbc) or atoms.cell.rank < 3:
        raise ValueError("frame is not periodic in 3D")
    structure = AseAtomsAdaptor.get_structure(atoms)  # ``atoms.info`` → ``properties``
    results = atoms.calc.results if atoms.calc is not None else {}
    for name in ("energy", "free_energy"):  # ASE moves a frame's energy to a calculator
        if name in results and np.ndim(results[name]) == 0:
            structure.properties.setdefault(name, float(results[name]))
    return structure


def read_extxyz(name: str, text: str, source: str | None = None) -> Iterator[StructureRow]:
    """Extended-XYZ frames (ASE), one row each.

    ``info`` and the frame's scalar energies (``energy``, ``free_energy``) become
    ``structure.properties``.
    """
    frames = list(_extxyz_frames(text))
    for i, (frame, synced) in enumerate(frames):
        key = record_key(name, i, len(frames))
        if not synced:
            reason = "malformed extxyz frame: no atom count line (the rest is unreadable)"
            yield error_row(key, reason, source=source or name, raw=frame)
            continue
        yield parsed_row(
            key, source or name, frame, "extxyz frame", partial(_frame_structure, frame)
        )


def read_poscar(name: str, text: str, source: str | None = None) -> Iterator[StructureRow]:
    """A VASP POSCAR / CONTCAR (``.vasp``), one row."""
    from pymatgen.io.vasp import Poscar

    yield parsed_row(name, source or name, text, "POSCAR", lambda: Poscar.from_str(text).structure)
