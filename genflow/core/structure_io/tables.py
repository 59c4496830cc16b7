"""Tables of structures (CSV, parquet) as generators publish them, one row per table row.

Generators put their structures into a table column in many ways: CDVAE's datasets and
CrystalFormer a ``cif`` column (CrystalFormer's holds ``str(structure.as_dict())``, a Python
literal, not CIF), FlowMM's results a ``relxed_structure`` column of CIF text beside
``formula`` and ``error_str``, others JSON dicts, POSCAR or extxyz text. The column is found
by what its cells hold (:func:`cell_kind` on a few non-empty cells of each column), preferring
the well-known names when several qualify, or named by the caller (``column=``, the CLI's
``--column``). Each cell is then read by what it holds, so one odd cell is one error row.

Keys are the id column's value (``material_id`` or ``id``) if present, else
``<name>#row-<n>`` (1-based).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
from pymatgen.core import Structure

from genflow.core.structure_io.formats import _frame_structure, _parse_cif, structure_from_dict
from genflow.core.structure_io.literal import python_literal
from genflow.core.structure_io.rows import StructureRow, error_row, parsed_row

__all__ = [
    "ERROR_COLUMNS",
    "ID_COLUMNS",
    "STRUCTURE_COLUMNS",
    "cell_kind",
    "read_csv",
    "read_parquet",
    "rows_from_table",
    "structure_column",
]

#: Well-known names of structure columns, most preferred first (``relxed_structure``: sic,
#: FlowMM's spelling), and the cell kind each implies when no sniffed cell says.
_NAMED_KINDS: dict[str, str] = {
    "cif": "cif", "structure": "dict", "relxed_structure": "cif", "relaxed_structure": "cif",
    "poscar": "poscar", "extxyz": "extxyz",
}  # fmt: skip
STRUCTURE_COLUMNS = tuple(_NAMED_KINDS)
#: Id columns, in order of preference.
ID_COLUMNS = ("material_id", "id")
#: A generator's own error message for a row it could not make (FlowMM's ``error_str``).
ERROR_COLUMNS = ("error_str", "error")
#: How many non-empty cells of each column are sniffed to find the structure column.
SNIFF_CELLS = 5

_LABELS = {
    "cif": "CIF", "dict": "structure dict", "poscar": "POSCAR", "extxyz": "extxyz",
    "object": "structure",
}  # fmt: skip
_CIF_BLOCK = re.compile(r"^\s*data_", re.MULTILINE)
_DICT_KEYS = re.compile(r"""['"](sites|lattice|structure)['"]\s*:""")


def cell_kind(value: Any) -> str | None:
    """What a table cell holds: ``cif``, ``dict``, ``poscar``, ``extxyz``, ``object`` or None.

    ``dict`` is a structure dict as a dict, JSON text or Python-literal text; ``object`` a
    pymatgen ``Structure``. Only the shape is looked at (a ``data_`` block with cell or site
    tags, a brace with ``sites``/``lattice`` keys, a count line, a POSCAR's scale and three
    lattice rows), so a damaged cell of the right shape is still named and its parser says
    what is wrong.

    >>> cell_kind("{'lattice': {'matrix': [[1, 0, 0]]}, 'sites': []}"), cell_kind("2\\nx\\n")
    ('dict', None)
    """
    if isinstance(value, Structure):
        return "object"
    if isinstance(value, Mapping):
        return "dict"
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("{"):
        return "dict" if _DICT_KEYS.search(text) else None
    if _CIF_BLOCK.search(text) and ("_cell_length_a" in text or "_atom_site_" in text):
        return "cif"
    lines = text.splitlines()
    head = lines[0].strip() if lines else ""
    if head.isdigit() and 0 < int(head) <= len(lines) - 2:
        return "extxyz"
    if (
        len(lines) >= 8
        and _numbers(lines[1]) in (1, 3)
        and all(_numbers(line) == 3 for line in lines[2:5])
    ):
        return "poscar"
    return None


def _numbers(line: str) -> int:
    """How many numbers a line holds, or -1 if any word is not one."""
    words = line.split()
    try:
        [float(w) for w in words]
    except ValueError:
        return -1
    return len(words)


def _empty(value: Any) -> bool:
    """A missing cell: None, NaN (pandas' empty CSV cell) or blank text."""
    if value is None or type(value).__name__ == "NAType":  # pandas' NA, without pandas
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, str) and not value.strip()


def _sample(values: list[Any]) -> list[Any]:
    """The first :data:`SNIFF_CELLS` non-empty cells."""
    out = []
    for value in values:
        if not _empty(value):
            out.append(value)
            if len(out) == SNIFF_CELLS:
                break
    return out


def structure_column(df: Any, name: str, column: str | None = None) -> str:
    """The column of ``df`` that holds the structures.

    Parameters
    ----------
    df
        A pandas ``DataFrame``.
    name
        The table's name, for the error message.
    column
        The caller's choice; it must exist (its cells are read whatever they hold).

    Returns
    -------
    str
        ``column`` if given; else among the columns where at least one of the first
        :data:`SNIFF_CELLS` non-empty cells holds a structure, a well-known name
        (:data:`STRUCTURE_COLUMNS`) first, then the highest share of such cells, then the
        leftmost; else a well-known name (its cells are all bad or empty: each row says why).

    Raises
    ------
    ValueError
        When ``column`` is not in the table, or no column qualifies (the message lists the
        columns).
    """
    columns = [str(c) for c in df.columns]
    if column is not None:
        if column not in columns:
            raise ValueError(f"{name}: no column {column!r} (columns: {', '.join(columns)})")
        return column
    shares: dict[str, float] = {}
    for label in df.columns:
        cells = _sample(df[label].tolist())
        hits = sum(cell_kind(v) is not None for v in cells)
        if hits:
            shares[str(label)] = hits / len(cells)

    def rank(c: str) -> tuple[int, float, int]:
        known = STRUCTURE_COLUMNS.index(c.lower()) if c.lower() in _NAMED_KINDS else 99
        return known, -shares.get(c, 0.0), columns.index(c)

    if shares:
        return min(shares, key=rank)
    if known := [c for c in columns if c.lower() in _NAMED_KINDS]:
        return min(known, key=rank)
    raise ValueError(
        f"{name}: no structure column: no column holds CIF text, structure dicts, POSCAR or "
        f"extxyz text (columns: {', '.join(columns)}); name one with --column"
    )


def rows_from_table(
    df: Any,
    name: str,
    *,
    column: str | None = None,
    id_column: str | None = None,
    source: str | None = None,
    cif_column: str | None = None,
) -> list[StructureRow]:
    """One row per table row: its structure, or why there is none.

    Parameters
    ----------
    df
        A pandas ``DataFrame`` (from a CSV, a parquet file or built in memory).
    name
        The table's name: keys are ``<name>#row-<n>`` (1-based) without an id column.
    column
        The structure column; found by content when None (:func:`structure_column`).
    id_column
        The id column; ``material_id`` or ``id`` when None or absent.
    source
        The file the table came from (defaults to ``name``).
    cif_column
        Older name of ``column`` (``genflow.model.data.load_csv`` passes it).

    Returns
    -------
    list[StructureRow]
        Each cell is read by what it holds (:func:`cell_kind`), else as the kind most of the
        column's sniffed cells hold (so a damaged CIF in a CIF column says "malformed CIF").
        An empty cell is an error row quoting the generator's own error (``error_str``) if
        the table has one.

    Raises
    ------
    ValueError
        When no column holds structures, or ``column`` is not in the table.
    """
    source = source or name
    col = structure_column(df, name, column or cif_column)
    label = next(c for c in df.columns if str(c) == col)
    values = df[label].tolist()
    kinds = Counter(k for k in map(cell_kind, _sample(values)) if k is not None)
    column_kind = kinds.most_common(1)[0][0] if kinds else _NAMED_KINDS.get(col.lower())
    columns = {str(c): c for c in df.columns}
    id_col = id_column if id_column in columns else next(
        (c for c in ID_COLUMNS if c in columns), None
    )  # fmt: skip
    ids = df[columns[id_col]].tolist() if id_col else [None] * len(values)
    err_col = next((c for c in ERROR_COLUMNS if c in columns and c != col), None)
    errors = df[columns[err_col]].tolist() if err_col else [None] * len(values)
    return [
        _cell_row(
            f"{name}#row-{i + 1}" if _empty(ident) else str(ident), value, col, column_kind,
            None if _empty(note) else f"{err_col}: {str(note)[:300]}", source,
        )
        for i, (value, ident, note) in enumerate(zip(values, ids, errors, strict=True))
    ]  # fmt: skip


def _cell_row(
    key: str, value: Any, col: str, column_kind: str | None, note: str | None, source: str
) -> StructureRow:
    """One table row from its structure cell; ``note`` is the generator's own error."""
    if _empty(value):
        reason = f"no structure ({note})" if note else f"empty cell in column {col!r}"
        return error_row(key, reason, source=source)
    raw = value if isinstance(value, str) else None
    if raw is not None and raw.strip() == col:
        reason = f"the header line again (column {col!r}): a table appended to with its header"
        return error_row(key, reason, source=source, raw=raw)
    kind = cell_kind(value) or column_kind
    if kind is None:
        shown = (raw if raw is not None else type(value).__name__).strip()[:40]
        reason = (
            f"not a structure: column {col!r} holds neither CIF text, a structure dict, "
            f"POSCAR nor extxyz text here ({shown!r})"
        )
        return error_row(key, reason, source=source, raw=raw)
    return parsed_row(key, source, raw, _LABELS[kind], partial(_PARSERS[kind], value))


def _dict_cell(value: Any) -> Structure:
    """A structure dict given as a dict, JSON text or Python-literal text."""
    if not isinstance(value, str):
        return structure_from_dict(_plain(value))
    try:
        data = json.loads(value)
    except ValueError as json_error:
        try:
            data = python_literal(value)
        except ValueError as literal_error:
            raise ValueError(
                f"neither JSON ({json_error}) nor a Python literal ({literal_error})"
            ) from None
    return structure_from_dict(data)


def _plain(value: Any) -> Any:
    """Nested dicts with lists for arrays: parquet gives a struct cell's lists as ndarrays."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _poscar_cell(value: str) -> Structure:
    from pymatgen.io.vasp import Poscar

    return Poscar.from_str(value).structure


def _extxyz_cell(value: str) -> Structure:
    return _frame_structure(value.strip() + "\n")


def _structure_cell(value: Structure) -> Structure:
    return value


_PARSERS: dict[str, Callable[[Any], Structure]] = {
    "cif": _parse_cif, "dict": _dict_cell, "poscar": _poscar_cell, "extxyz": _extxyz_cell,
    "object": _structure_cell,
}  # fmt: skip


def read_csv(
    name: str, text: str, source: str | None = None, *, column: str | None = None
) -> Iterator[StructureRow]:
    """A CSV table (see :func:`rows_from_table`).

    A file that yields no table row (not CSV, no structure column) is one error row
    ``"unreadable file: ..."`` (what ``genflow gate`` counts as unreadable input), naming
    the table's columns when it has no structure column.
    """
    import pandas as pd

    try:
        # every cell as text: ids keep their leading zeros, and sniffing sees what was written
        df = pd.read_csv(io.StringIO(text), dtype=str)
    except ValueError as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        yield error_row(name, f"unreadable file: not a CSV table: {exc}", source=source or name)
        return
    yield from _table_rows(df, name, source, column)


def read_parquet(
    name: str, data: bytes, source: str | None = None, *, column: str | None = None
) -> Iterator[StructureRow]:
    """A parquet table (pandas with pyarrow or fastparquet; see :func:`read_csv`)."""
    import pandas as pd

    try:
        df = pd.read_parquet(io.BytesIO(data))
    except ImportError:
        reason = (
            "unreadable file: reading parquet needs pyarrow or fastparquet (neither is installed)"
        )
        yield error_row(name, reason, source=source or name)
        return
    except (ValueError, OSError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        reason = f"unreadable file: not a parquet table: {type(exc).__name__}: {exc}"
        yield error_row(name, reason, source=source or name)
        return
    yield from _table_rows(df, name, source, column)


def _table_rows(
    df: Any, name: str, source: str | None, column: str | None
) -> Iterator[StructureRow]:
    try:
        rows = rows_from_table(df, name, column=column, source=source)
    except ValueError as exc:
        reason = str(exc).removeprefix(f"{name}: ")
        yield error_row(name, f"unreadable file: {reason}", source=source or name)
        return
    yield from rows
