"""CDVAE / DiffCSP ``eval_gen.pt`` files: generated crystals as tensors, one row each.

Their evaluation scripts save ``torch.save({"frac_coords", "atom_types", "num_atoms",
"lengths", "angles", "eval_setting", ...})``: atoms of all crystals concatenated
(``frac_coords`` (N_atoms, 3), ``atom_types`` (N_atoms,) atomic numbers), per crystal
``num_atoms`` (N,), ``lengths`` (N, 3) in Å and ``angles`` (N, 3) in degrees, each possibly
batched along a leading dimension of ``num_evals`` (CDVAE's ``get_crystals_list`` splits
``frac_coords[b]`` by ``num_atoms[b]``). DiffCSP variants may hold ``lattices`` (N, 3, 3)
instead of lengths and angles.

The file is read with ``torch.load(weights_only=True)``: only tensors and plain containers are
rebuilt, never arbitrary objects. The one class allowed besides is ``argparse.Namespace`` (the
scripts' ``eval_setting``), a plain attribute bag. torch is imported only here, lazily.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from genflow.core.structure_io.rows import StructureRow, error_row, parsed_row

__all__ = ["read_eval_gen"]


def _load(data: bytes) -> dict[str, Any]:
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a dict of tensors, got {type(obj).__name__}")
    return obj


def _array(obj: dict[str, Any], key: str) -> np.ndarray:
    value = obj[key]
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)


def _batches(obj: dict[str, Any]) -> Iterator[tuple[np.ndarray, ...]]:
    """``(frac_coords, atom_types, num_atoms, lattice_or_None, lengths, angles)`` per batch."""
    missing = [k for k in ("frac_coords", "atom_types", "num_atoms") if k not in obj]
    has_lattice = "lattices" in obj or ("lengths" in obj and "angles" in obj)
    if missing or not has_lattice:
        missing += [] if has_lattice else ["lengths+angles or lattices"]
        raise ValueError(f"missing {', '.join(missing)} (have {', '.join(map(str, obj))})")
    frac, types, counts = (_array(obj, k) for k in ("frac_coords", "atom_types", "num_atoms"))
    if "lattices" in obj:
        lat, lengths, angles = _array(obj, "lattices"), None, None
    else:
        lat, lengths, angles = None, _array(obj, "lengths"), _array(obj, "angles")
    if counts.ndim == 1:  # not batched: add the leading dimension
        frac, types, counts = frac[None], types[None], counts[None]
        lat = None if lat is None else lat[None]
        lengths = None if lengths is None else lengths[None]
        angles = None if angles is None else angles[None]
    for b in range(counts.shape[0]):
        if int(counts[b].sum()) != len(frac[b]) or len(frac[b]) != len(types[b]):
            raise ValueError(
                f"batch {b}: num_atoms sums to {int(counts[b].sum())} but frac_coords has "
                f"{len(frac[b])} rows and atom_types {len(types[b])}"
            )
        yield (
            frac[b], types[b], counts[b],
            None if lat is None else lat[b],
            None if lengths is None else lengths[b],
            None if angles is None else angles[b],
        )  # fmt: skip


def _crystal(frac, types, lattice, lengths, angles) -> Structure:
    species = []
    for z in np.asarray(types).astype(int).tolist():
        if not 1 <= z <= 118:
            raise ValueError(f"'Z={z}' is not a valid Element")
        species.append(Element.from_Z(z))
    if lattice is not None:
        lat = Lattice(np.asarray(lattice, dtype=float))
    else:
        lat = Lattice.from_parameters(*map(float, lengths), *map(float, angles))
    return Structure(lat, species, np.asarray(frac, dtype=float), coords_are_cartesian=False)


def read_eval_gen(name: str, data: bytes, source: str | None = None) -> Iterator[StructureRow]:
    """One row per generated crystal; keys ``name#n`` (1-based, counted across batches)."""
    source = source or name
    try:
        batches = list(_batches(_load(data)))
    except Exception as exc:  # torch raises UnpicklingError/RuntimeError/...: one row
        yield error_row(
            name, f"unreadable eval_gen file: {type(exc).__name__}: {exc}", source=source
        )
        return
    total = sum(len(b[2]) for b in batches)
    n = 0
    for frac, types, counts, lat, lengths, angles in batches:
        ends = np.cumsum(counts)
        for j, (start, end) in enumerate(zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True)):
            key = name if total == 1 else f"{name}#{n + 1}"
            n += 1
            args = (
                frac[start:end], types[start:end],
                None if lat is None else lat[j],
                None if lengths is None else lengths[j],
                None if angles is None else angles[j],
            )  # fmt: skip
            yield parsed_row(key, source, None, "crystal", partial(_crystal, *args))
