"""Zip archives of CIF files, one structure per member: GNoME's published CIF archive.

GNoME (``google-deepmind/materials_discovery``) publishes ``gnome_data/by_id.zip`` holding
``by_id/<gnome id>.CIF``; any zip of ``*.cif`` / ``*.cif.gz`` members reads the same way. The
id is the member's file name without its suffixes. Members are read one at a time from the
archive on disk (never the whole archive into memory); hidden and ``__MACOSX`` members and
other files are skipped.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterator
from pathlib import Path

from genflow.core.structure_io import StructureRow, parse_one
from genflow.core.structure_io.rows import error_row
from genflow.workflows.reference_sources.records import Record, Source, strip_suffixes

__all__ = ["cif_members", "read_cif_zip"]


def cif_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The CIF members of an archive, in archive order."""
    out = []
    for info in archive.infolist():
        parts = info.filename.split("/")
        hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
        name = info.filename.lower().removesuffix(".gz")
        if not info.is_dir() and not hidden and name.endswith((".cif", ".mcif")):
            out.append(info)
    return out


def _member_row(path: Path, info: zipfile.ZipInfo, ref_id: str) -> StructureRow:
    source = f"{path.name}/{info.filename}"
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(info)
        if info.filename.lower().endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        return error_row(ref_id, f"unreadable member: {type(exc).__name__}: {exc}", source=source)
    return parse_one(text, key=ref_id)


def read_cif_zip(path: str | Path) -> Source:
    """One record per CIF member (id: the member's stem)."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = cif_members(archive)

    def records() -> Iterator[Record]:
        for info in members:
            ref_id = strip_suffixes(info.filename)
            yield Record(ref_id, lambda i=info, k=ref_id: _member_row(path, i, k))

    return Source(records(), len(members))
