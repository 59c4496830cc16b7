"""What every published-set reader yields: a record's id, and a way to parse it later.

A reader names each record before parsing it (``entry_id``, ``immutable_id``, an archive
member's name, a table's id column), so the importer can ask the database which ids of a batch
are stored and parse only the others: re-running an import of a million references costs one
query per batch. :class:`Source` is one file's records and, when the format says cheaply, how
many there are (the progress bar's total).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from genflow.core.structure_io import StructureRow

__all__ = ["Record", "Source", "open_text", "read_json_file", "strip_suffixes"]

_OPENERS: dict[str, Callable[..., IO[str]]] = {
    ".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open,
}  # fmt: skip
_ID_SUFFIXES = (".gz", ".bz2", ".xz", ".cif", ".mcif", ".json")


@dataclass(frozen=True)
class Record:
    """One record of a published set: its id in that set, and its parse (a row; never raises)."""

    ref_id: str
    parse: Callable[[], StructureRow]


@dataclass(frozen=True)
class Source:
    """The records of one file, in file order; ``total`` is their number when known."""

    records: Iterator[Record]
    total: int | None = None


def open_text(path: str | Path) -> IO[str]:
    """A text stream of a plain, ``.gz``, ``.bz2`` or ``.xz`` file (decompressed as read)."""
    path = Path(path)
    opener = _OPENERS.get(path.suffix.lower())
    if opener is None:
        return path.open(encoding="utf-8")
    return opener(path, "rt", encoding="utf-8")


def read_json_file(path: str | Path) -> Any:
    """The JSON document of a plain or compressed file.

    Published dumps are one JSON document per file (Alexandria: ~100k entries per
    ``alexandria_NNN.json.bz2``), so a file is read whole; the importer frees each record as
    it goes.
    """
    with open_text(path) as fh:
        return json.load(fh)


def strip_suffixes(name: str) -> str:
    """A file name's id: ``by_id/0a1b.CIF`` → ``0a1b``, ``x.cif.gz`` → ``x``."""
    stem = name.rsplit("/", 1)[-1]
    for _ in range(2):
        for suffix in _ID_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
    return stem
