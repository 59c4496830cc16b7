"""CSV tables of CIFs: MatterGen's ``alex_mp_20`` and the CDVAE-style MP-20 splits.

MatterGen's ``datasets/alex_mp_20/{train,val}.csv`` (like ``mp_20``) has a ``material_id``
column and a ``cif`` column of CIF text, beside properties that are not read. The table is read
in chunks of rows (pandas), so a 600k-row file never sits in memory whole; the structure
column is found by content, or named (``column``), by
:func:`genflow.core.structure_io.tables.structure_column`, and each cell is read by
:func:`~genflow.core.structure_io.tables.rows_from_table`: the same reader ``genflow gate``
uses for tables. The id is ``material_id`` or ``id``, else ``<file>#row-<n>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from genflow.core.structure_io import StructureRow, rows_from_table
from genflow.core.structure_io.tables import ID_COLUMNS, structure_column
from genflow.workflows.reference_sources.records import Record, Source

__all__ = ["read_csv_table"]

_CHUNK_ROWS = 2048


def _row(chunk: Any, i: int, name: str, column: str, ref_id: str) -> StructureRow:
    row = rows_from_table(chunk.iloc[[i]], name, column=column, source=name)[0]
    error = None if row.ok else f"{ref_id}: {row.reason}"
    return StructureRow(ref_id, row.structure, error, row.raw, row.source, row.stage)


def read_csv_table(path: str | Path, column: str | None = None) -> Source:
    """One record per table row, ``_CHUNK_ROWS`` rows read at a time (count unknown)."""
    import pandas as pd

    path = Path(path)

    def records() -> Iterator[Record]:
        offset = 0
        # every cell as text: ids keep their leading zeros (as the gate's CSV reader does)
        for chunk in pd.read_csv(path, dtype=str, chunksize=_CHUNK_ROWS):
            col = structure_column(chunk, path.name, column)
            id_col = next((c for c in ID_COLUMNS if c in chunk.columns), None)
            ids = chunk[id_col].tolist() if id_col else [None] * len(chunk)
            for i, ident in enumerate(ids):
                named = isinstance(ident, str) and ident.strip()
                ref_id = ident.strip() if named else f"{path.name}#row-{offset + i + 1}"
                yield Record(ref_id, partial(_row, chunk, i, path.name, col, ref_id))
            offset += len(chunk)

    return Source(records(), None)
