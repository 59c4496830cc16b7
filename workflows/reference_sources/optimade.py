"""OPTIMADE structures: JSON responses of any OPTIMADE provider, and LeMat-Bulk's parquet.

Both carry the OPTIMADE ``structures`` fields; only these are read:

============================  ==============================================================
``lattice_vectors``           3×3, one lattice vector per row (Å)
``cartesian_site_positions``  one ``[x, y, z]`` per site (Å)
``species_at_sites``          one species *name* per site
``species``                   optional: ``[{"name", "chemical_symbols", "concentration"}]``
                              (LeMat-Bulk stores it as JSON text); maps names to elements.
                              Without it a name is taken as the element symbol
``dimension_types``           optional; anything but ``[1, 1, 1]`` is a row with its reason
============================  ==============================================================

A response is ``{"data": [{"id", "type": "structures", "attributes": {...}}], ...}`` (one
page per file; a folder of saved pages is read page by page); the id is the entry's ``id``.
LeMat-Bulk (``LeMaterial/LeMat-Bulk`` on Hugging Face) is parquet with those fields as
columns, its id in ``immutable_id``; it is read in row batches, only the columns above.

pymatgen's ``OptimadeStructureAdapter`` is not used: it reads ``species_at_sites`` names as
element symbols and ignores ``species``, so a provider naming species ``Fe1``/``Fe2`` fails.
A mixed or partially occupied species is a row with its reason (genflow compares ordered
structures only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pymatgen.core import Lattice, Structure

from genflow.core.structure_io import StructureRow
from genflow.core.structure_io.rows import error_row, parsed_row
from genflow.workflows.reference_sources.records import Record, Source, read_json_file

__all__ = [
    "LEMAT_COLUMNS",
    "is_lemat_schema",
    "read_lemat_parquet",
    "read_optimade_json",
    "structure_from_optimade",
]

#: The parquet columns read (the first present id column names the record).
LEMAT_COLUMNS = (
    "lattice_vectors", "cartesian_site_positions", "species_at_sites", "species",
    "dimension_types",
)  # fmt: skip
_ID_COLUMNS = ("immutable_id", "id", "material_id")
_BATCH_ROWS = 1024


def _element_of(species: Mapping[str, Any]) -> str:
    """The one element of an OPTIMADE species, or ValueError for a mixed or partial one."""
    symbols = list(species.get("chemical_symbols") or [])
    conc = list(species.get("concentration") or [1.0] * len(symbols))
    if len(symbols) != 1 or symbols[0] in ("vacancy", "X") or abs(float(conc[0]) - 1) > 1e-6:
        raise ValueError(
            f"species {species.get('name')!r} is {symbols} at {conc}: partially occupied or "
            "mixed sites are not supported"
        )
    return str(symbols[0])


def structure_from_optimade(attributes: Mapping[str, Any]) -> Structure:
    """An ordered ``Structure`` from OPTIMADE ``structures`` attributes (module docstring)."""
    dims = attributes.get("dimension_types")
    if dims is not None and [int(d) for d in dims] != [1, 1, 1]:
        raise ValueError(f"dimension_types {list(dims)}: only 3D-periodic crystals are compared")
    species = attributes.get("species")
    if isinstance(species, str):  # LeMat-Bulk: JSON text
        species = json.loads(species)
    names = [str(n) for n in attributes["species_at_sites"]]
    if species:
        by_name = {str(s["name"]): _element_of(s) for s in species}
        missing = sorted(set(names) - set(by_name))
        if missing:
            raise ValueError(f"species_at_sites names {missing} absent from species")
        symbols = [by_name[n] for n in names]
    else:
        symbols = names
    lattice = [[float(x) for x in row] for row in attributes["lattice_vectors"]]
    coords = [[float(x) for x in row] for row in attributes["cartesian_site_positions"]]
    if len(coords) != len(symbols):
        raise ValueError(f"{len(coords)} positions for {len(symbols)} species_at_sites")
    return Structure(Lattice(lattice), symbols, coords, coords_are_cartesian=True)


def _row(key: str, attributes: Any, source: str) -> StructureRow:
    if not isinstance(attributes, Mapping):
        return error_row(key, "no OPTIMADE attributes", source=source)
    return parsed_row(
        key, source, None, "OPTIMADE structure", lambda: structure_from_optimade(attributes)
    )


def read_optimade_json(path: str | Path) -> Source:
    """The ``structures`` entries of one saved OPTIMADE response (other types are skipped)."""
    path = Path(path)
    document = read_json_file(path)
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict):  # a single-entry response
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: not an OPTIMADE response (no 'data' list)")
    entries = [
        e for e in data if not isinstance(e, dict) or e.get("type", "structures") == "structures"
    ]

    def records() -> Iterator[Record]:
        for i, entry in enumerate(entries):
            ok = isinstance(entry, dict)
            ref_id = str(entry["id"]) if ok and entry.get("id") else f"{path.name}#{i + 1}"
            attributes = entry.get("attributes") if ok else None
            yield Record(ref_id, lambda k=ref_id, a=attributes: _row(k, a, str(path)))

    return Source(records(), len(entries))


def is_lemat_schema(names: list[str]) -> bool:
    """Whether a parquet schema carries the OPTIMADE structure columns."""
    return {"lattice_vectors", "cartesian_site_positions", "species_at_sites"} <= set(names)


def read_lemat_parquet(path: str | Path, batch_rows: int = _BATCH_ROWS) -> Source:
    """LeMat-Bulk rows of one parquet file, read ``batch_rows`` at a time (columns above)."""
    import pyarrow.parquet as pq

    path = Path(path)
    table = pq.ParquetFile(path)
    names = table.schema_arrow.names
    if not is_lemat_schema(names):
        raise ValueError(
            f"{path.name}: no OPTIMADE structure columns (lattice_vectors, "
            f"cartesian_site_positions, species_at_sites); columns: {', '.join(names)}"
        )
    id_col = next((c for c in _ID_COLUMNS if c in names), None)
    columns = [c for c in LEMAT_COLUMNS if c in names] + ([id_col] if id_col else [])

    def records() -> Iterator[Record]:
        n = 0
        for batch in table.iter_batches(batch_size=batch_rows, columns=columns):
            for row in batch.to_pylist():
                n += 1
                ident = row.pop(id_col, None) if id_col else None
                ref_id = str(ident) if ident not in (None, "") else f"{path.name}#row-{n}"
                yield Record(ref_id, lambda k=ref_id, a=row: _row(k, a, str(path)))

    return Source(records(), table.metadata.num_rows)
