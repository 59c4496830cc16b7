"""Structure I/O: every format genflow reads or writes, one row per record.

Readers (the format is picked by the file name; ``.gz`` of any of them works):

============================  ==========================================================
``*.cif``                     every ``data_`` block (one file may hold several)
``*.json``                    pymatgen ``Structure`` dict, a list, ``{"structures": [...]}``
``*.extxyz`` / ``*.xyz``      ASE extended-XYZ frames (``info`` → ``structure.properties``)
``POSCAR*``, ``CONTCAR*``,    VASP structure file
``*.vasp``, ``*.poscar``
``*.csv``, ``*.parquet``      a table (:mod:`.tables`): the column of CIF text, structure
                              dicts (JSON or Python-literal text), POSCAR or extxyz text is
                              found by content or named (``column=``); optional
                              ``material_id`` / ``id`` column
``*.pt``                      CDVAE / DiffCSP ``eval_gen.pt`` (:mod:`.eval_gen`)
``*.zip``                     every member of the formats above (e.g. GNoME's CIF archive)
a directory                   every file of the formats above, recursively, sorted
============================  ==========================================================

Every reader yields :class:`StructureRow` rows: one per record, in input order. A record that
cannot be used — malformed, a symbol that is not an element (pymatgen would read ``Xx`` as a
``DummySpecies``), a partially occupied site — is a row with ``error`` = ``"<key>: <reason>"``
and the other records go on. A file that breaks its reader in any way (JSON nested too deeply
for Python's parser, a file over ``MAX_INPUT_MB``, bytes no reader expected) is one error row
``unreadable file: ...`` after the rows it did give, and the other files go on. NaN
coordinates are kept for the gate's validity stage.

Keys: ``file.cif`` for a file's only record, ``file.cif#2`` for the second of several
(1-based), ``archive.zip/dir/x.cif`` inside an archive, ``dir/x.cif`` relative to a folder
given, ``table.csv#row-3`` or the table's id column value.

:func:`summarize_unreadable` tells a user how many rows of a batch have no structure, and why.

Writers: :func:`write_structures` (``.extxyz``, ``.json``, ``.cif``, or a directory of CIFs).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from gzip import decompress as gunzip
from pathlib import Path

from genflow.core.structure_io.eval_gen import read_eval_gen
from genflow.core.structure_io.formats import (
    read_cif,
    read_extxyz,
    read_json,
    read_poscar,
    structure_from_dict,
)
from genflow.core.structure_io.rows import (
    StructureRow,
    UnreadableSummary,
    check_structure,
    decode_text,
    error_row,
    parsed_row,
    read_file_text,
    summarize_unreadable,
)
from genflow.core.structure_io.tables import read_csv, read_parquet, rows_from_table
from genflow.core.structure_io.writers import output_format, write_structures

__all__ = [
    "StructureRow",
    "UnreadableSummary",
    "check_structure",
    "format_of",
    "output_format",
    "parse_one",
    "read_file_text",
    "read_structures",
    "read_text",
    "rows_from_table",
    "summarize_unreadable",
    "too_large",
    "write_structures",
]

_TEXT_READERS: dict[str, Callable[[str, str, str], Iterator[StructureRow]]] = {
    "cif": read_cif,
    "json": read_json,
    "extxyz": read_extxyz,
    "poscar": read_poscar,
}
#: Formats whose records are table rows: they take ``column=`` (the structure column).
_TABLE_FORMATS = ("csv", "parquet")


def format_of(name: str) -> str | None:
    """``cif``, ``json``, ``extxyz``, ``poscar``, ``csv``, ``parquet``, ``pt``, ``zip`` or None.

    By file name (a ``.gz`` ending is looked through). A known suffix wins over a VASP name:
    ``poscar_relaxed.csv`` is a table, ``POSCAR.1`` a POSCAR.
    """
    base = Path(name).name.lower().removesuffix(".gz")
    suffix = base.rsplit(".", 1)[-1] if "." in base else ""
    by_suffix = {
        "cif": "cif", "mcif": "cif", "json": "json", "extxyz": "extxyz", "xyz": "extxyz",
        "vasp": "poscar", "poscar": "poscar", "csv": "csv", "parquet": "parquet", "pt": "pt",
        "zip": "zip",
    }.get(suffix)  # fmt: skip
    if by_suffix is None and base.startswith(("poscar", "contcar")):
        return "poscar"
    return by_suffix


def _rows(
    name: str, key: str, data: bytes | str, source: str, column: str | None = None
) -> Iterator[StructureRow]:
    """Rows of one file's content; ``name`` picks the reader, ``key`` names the records,
    ``column`` is a table's structure column (None: found by content).

    The file is where one bad input stops: whatever its reader raises (``RecursionError``
    on deeply nested JSON, a parser bug on odd bytes) becomes one error row, never an
    exception that would cost the other files their rows.
    """
    try:
        yield from _read_rows(name, key, data, source, column)
    except RecursionError:
        yield error_row(key, "unreadable file: nested too deeply to parse", source=source)
    except Exception as exc:  # the file boundary: see the docstring
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        yield error_row(key, f"unreadable file: {type(exc).__name__}: {text}", source=source)


def _read_rows(
    name: str, key: str, data: bytes | str, source: str, column: str | None = None
) -> Iterator[StructureRow]:
    fmt = format_of(name)
    if fmt is None:
        yield error_row(key, "unknown structure format (want .cif, .json, .extxyz, POSCAR, "
                        ".csv, .parquet, .pt, .zip or .gz of them)", source=source)  # fmt: skip
        return
    try:
        if fmt == "zip":
            blob = data if isinstance(data, bytes) else data.encode()
            yield from _read_zip(key, blob, source, column)
            return
        if fmt in ("pt", "parquet"):
            blob = data if isinstance(data, bytes) else data.encode()
            blob = gunzip(blob) if name.lower().endswith(".gz") else blob
            if fmt == "parquet":
                yield from read_parquet(key, blob, source, column=column)
            else:
                yield from read_eval_gen(key, blob, source)
            return
        text = decode_text(data, name)
    except (OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        yield error_row(key, f"unreadable file: {type(exc).__name__}: {exc}", source=source)
        return
    if fmt in _TABLE_FORMATS:
        yield from read_csv(key, text, source, column=column)
        return
    yield from _TEXT_READERS[fmt](key, text, source)


def _read_zip(
    key: str, data: bytes, source: str, column: str | None = None
) -> Iterator[StructureRow]:
    """Every member of a known format, in archive order (``archive.zip/dir/x.cif``)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            member = info.filename
            hidden = any(part.startswith(".") or part == "__MACOSX" for part in member.split("/"))
            if info.is_dir() or hidden or format_of(member) is None:
                continue
            member_key, member_source = f"{key}/{member}", f"{source}/{member}"
            yield from _rows(member, member_key, archive.read(info), member_source, column)


def read_text(name: str, text: str | bytes, *, column: str | None = None) -> Iterator[StructureRow]:
    """Rows of content already in memory (a campaign's source files); ``name`` picks the format.

    ``column`` names a table's structure column (CSV, parquet); other formats ignore it.

    >>> cif = "data_x\\n_cell_length_a 1\\n"
    >>> [row.error.split(":")[0] for row in read_text("bad.cif", cif)]
    ['bad.cif']
    """
    yield from _rows(name, Path(name).name if "/" not in name else name, text, name, column)


def read_structures(path: str | Path, *, column: str | None = None) -> Iterator[StructureRow]:
    """Rows of a file (any format above) or of every readable file under a directory.

    An unreadable file is one error row; a directory with no readable file raises
    ``ValueError``. ``column`` names the structure column of every table read (CSV,
    parquet; the CLI's ``--column``); None finds it by content. Other formats ignore it.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and format_of(p.name))
        if not files:
            raise ValueError(
                f"{path}: no structure files (.cif, .json, .extxyz, POSCAR, .csv, .parquet, ...)"
            )
        for f in files:
            yield from _read_path(f, f.relative_to(path).as_posix(), column)
        return
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    yield from _read_path(path, path.name, column)


def _read_path(path: Path, key: str, column: str | None = None) -> Iterator[StructureRow]:
    if reason := too_large(path):
        yield error_row(key, f"unreadable file: {reason}", source=str(path))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield error_row(key, f"unreadable file: {exc}", source=str(path))
        return
    yield from _rows(path.name, key, data, str(path), column)


def too_large(path: Path) -> str | None:
    """Why ``path`` is too large to read (over the ``MAX_INPUT_MB`` setting), or None."""
    from genflow.core.settings import get_settings

    limit_mb = get_settings().MAX_INPUT_MB
    try:
        size = path.stat().st_size
    except OSError:
        return None  # reading it reports the problem
    if size > limit_mb * 2**20:
        return f"{size / 2**20:.1f} MiB, over the {limit_mb:g} MiB limit (MAX_INPUT_MB)"
    return None


def parse_one(raw: object, key: str = "input") -> StructureRow:
    """One row for one in-memory record: a ``Structure``, a structure dict or CIF text.

    The gate's parse stage: the same checks as every reader (unknown elements, partially
    occupied sites), so an object handed over in memory is judged like a file.
    """
    from pymatgen.core import Structure

    if raw is None:
        return error_row(key, "no structure (None)", source=key)
    if isinstance(raw, Structure):
        return parsed_row(key, key, None, "structure", lambda: raw)
    if isinstance(raw, dict):
        return parsed_row(key, key, None, "structure dict", lambda: structure_from_dict(raw))
    if isinstance(raw, str):
        rows = list(read_cif(key, raw))
        if len(rows) == 1:
            return rows[0]
        return error_row(
            key, f"CIF text holds {len(rows)} structures; expected one", source=key, raw=raw
        )
    return error_row(key, f"unsupported input type {type(raw).__name__}", source=key)
