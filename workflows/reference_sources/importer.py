"""``genflow refs add``: stream a published set into the ``references`` collection.

Formats (``--format``; ``auto`` tells them apart by file name and a look at the content):

=============  ==========================================================  ================
format         what                                                        default source
=============  ==========================================================  ================
``mp-json``    MP entries / summary docs, JSON(.gz) (:mod:`.entries`)      ``mp``
``alexandria``  ``{"entries": [...]}`` JSON(.bz2) (:mod:`.entries`)         ``alexandria``
``optimade``   saved OPTIMADE responses (:mod:`.optimade`)                 (``--source``)
``lemat``      LeMat-Bulk parquet (:mod:`.optimade`)                       ``lemat-bulk``
``cif-zip``    a zip of CIFs, GNoME's ``by_id.zip`` (:mod:`.archives`)     (``--source``)
``csv``        a CSV of CIFs, MatterGen's ``alex_mp_20`` (:mod:`.tables`)   (``--source``)
``structures`` anything else genflow reads (``genflow.core.structure_io``)  (``--source``)
=============  ==========================================================  ================

A folder is read file by file (Alexandria's ``alexandria_000.json.bz2`` …), each file in its
own format. Records are taken ``batch_size`` at a time: the ids of a batch already stored are
skipped before parsing (:func:`genflow.core.references.stored_ref_ids` with ``probe``: a batch
whose first and last ids are new costs one two-id query); the rest are parsed, fingerprinted
and inserted (unique on ``(source, ref_id)``). So an import is idempotent, and resumable by
running it again. A record that does not parse is
counted with its reason and the import goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genflow.core.references import insert_references, stored_ref_ids
from genflow.core.structure_io import format_of, read_structures
from genflow.core.structure_io.rows import error_row
from genflow.workflows.reference_sources.archives import read_cif_zip
from genflow.workflows.reference_sources.entries import read_entries
from genflow.workflows.reference_sources.optimade import (
    is_lemat_schema,
    read_lemat_parquet,
    read_optimade_json,
)
from genflow.workflows.reference_sources.records import Record, Source, open_text
from genflow.workflows.reference_sources.tables import read_csv_table
from genflow.workflows.references import ref_id_of_key, reference_doc

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = [
    "DEFAULT_SOURCE",
    "FORMATS",
    "ImportSummary",
    "detect_format",
    "implied_format",
    "import_references",
    "read_source",
]

#: Every ``--format`` value but ``auto``.
FORMATS = ("mp-json", "alexandria", "optimade", "lemat", "cif-zip", "csv", "structures")
#: The source name a format implies when ``--source`` is not given.
DEFAULT_SOURCE = {"mp-json": "mp", "alexandria": "alexandria", "lemat": "lemat-bulk"}
DEFAULT_BATCH = 1000
_SNIFF_CHARS = 65536
_MP_MARKERS = ('"material_id"', '"entry_id"', "ComputedStructureEntry", "ComputedEntry")


def _sniff_json(path: Path) -> str:
    """Which JSON layout a file holds, from its first characters (the file is not parsed)."""
    with open_text(path) as fh:
        head = fh.read(_SNIFF_CHARS)
    if '"entries"' in head:
        return "alexandria"
    if '"attributes"' in head and '"data"' in head:
        return "optimade"
    if any(marker in head for marker in _MP_MARKERS):
        return "mp-json"
    return "structures"


def detect_format(path: str | Path) -> str:
    """The format of one file (module table), by its name and a look at its content."""
    path = Path(path)
    name = path.name.lower()
    bare = name.removesuffix(".gz").removesuffix(".bz2").removesuffix(".xz")
    if bare.endswith(".json"):
        return _sniff_json(path)
    if name.endswith(".zip"):
        return "cif-zip"
    if bare.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        names = pq.ParquetFile(path).schema_arrow.names
        return "lemat" if is_lemat_schema(names) else "structures"
    return "structures"


def implied_format(path: str | Path, fmt: str = "auto") -> str:
    """The format ``read_source`` will use: ``fmt``, else that of the file (or of a folder's
    first readable file), which names the default source (:data:`DEFAULT_SOURCE`)."""
    path = Path(path)
    if fmt != "auto":
        return fmt
    if path.is_dir():
        first = next((p for p in sorted(path.rglob("*")) if p.is_file() and _readable(p)), None)
        return detect_format(first) if first is not None else "structures"
    return detect_format(path)


def _generic(path: Path) -> Source:
    """Any format ``genflow.core.structure_io`` reads: parsed as read (ids from keys)."""

    def records() -> Iterator[Record]:
        for row in read_structures(path):
            yield Record(ref_id_of_key(row.key), lambda r=row: r)

    return Source(records(), None)


_READERS: dict[str, Callable[[Path], Source]] = {
    "mp-json": read_entries, "alexandria": read_entries, "optimade": read_optimade_json,
    "lemat": read_lemat_parquet, "cif-zip": read_cif_zip, "csv": read_csv_table,
    "structures": _generic,
}  # fmt: skip


def read_source(path: str | Path, fmt: str = "auto") -> Iterator[tuple[Path, str, Source]]:
    """``(file, format, records)`` of a file, or of each readable file under a folder."""
    path = Path(path)
    if fmt != "auto" and fmt not in _READERS:
        raise ValueError(f"unknown format {fmt!r} (want auto or one of {', '.join(FORMATS)})")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _readable(p))
        if not files:
            raise ValueError(f"{path}: no reference files")
    else:
        files = [path]
    for f in files:
        try:
            file_fmt = detect_format(f) if fmt == "auto" else fmt
            src = _READERS[file_fmt](f)
        except Exception as exc:  # a corrupt file of a folder is a row, not the end
            yield f, fmt, Source(_unreadable(f, exc), 1)
            continue
        yield f, file_fmt, Source(_guarded(f, src.records), src.total)


def _unreadable(path: Path, exc: Exception) -> Iterator[Record]:
    reason = f"unreadable file: {type(exc).__name__}: {str(exc)[:300]}"
    yield Record(path.name, lambda: error_row(path.name, reason, source=str(path)))


def _guarded(path: Path, records: Iterator[Record]) -> Iterator[Record]:
    """``records``, ending in one error record if reading the file fails part way."""
    try:
        yield from records
    except Exception as exc:  # truncated archive, bad CSV chunk: keep what was read
        yield from _unreadable(path, exc)


def _readable(path: Path) -> bool:
    name = path.name.lower().removesuffix(".bz2").removesuffix(".xz")
    return not path.name.startswith(".") and format_of(name) is not None


def _reason_class(reason: str) -> str:
    """A reason without its details (``"malformed CIF"``), to count reasons alike."""
    return reason.split(":", 1)[0].strip()[:80] or "no structure"


@dataclass
class ImportSummary:
    """What an import did: counts, bad records by reason class, and the first bad rows."""

    read: int = 0
    inserted: int = 0
    existing: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    first_rejected: list[dict[str, str]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``genflow refs add --json``)."""
        return {
            "read": self.read, "inserted": self.inserted, "existing": self.existing,
            "n_rejected": self.rejected, "reasons": dict(self.reasons.most_common()),
            "rejected": self.first_rejected, "files": self.files,
        }  # fmt: skip


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


def import_references(
    collection: Collection,
    path: str | Path,
    source: str,
    fmt: str = "auto",
    *,
    batch_size: int = DEFAULT_BATCH,
    fingerprints: bool = True,
    progress: bool = True,
    keep_rejected: int = 100,
) -> ImportSummary:
    """Stream ``path`` into ``collection`` under ``source`` (module docstring).

    Parameters
    ----------
    fingerprints
        Store each reference's dedupe fingerprint (the gate's own function); False leaves
        them to the gate, which computes and stores one when a candidate first needs it.
    progress
        Draw a bar per file (only on a terminal; see :mod:`genflow.core.progress`).
    keep_rejected
        How many bad records to list with their reason (all are counted).
    """
    from genflow.core.progress import ProgressDisplay

    summary = ImportSummary()
    with ProgressDisplay(enabled=progress) as display:
        for f, file_fmt, src in read_source(path, fmt):
            bar = display.add(f"{f.name} ({file_fmt})", src.total)
            before = (summary.read, summary.inserted, summary.existing, summary.rejected)
            for batch in _batches(src.records, batch_size):
                ids = (r.ref_id for r in batch)
                known = stored_ref_ids(collection, source, ids, probe=True)
                docs = []
                for record in batch:
                    if record.ref_id in known:
                        continue
                    row = record.parse()
                    if row.ok:
                        docs.append(
                            reference_doc(
                                row.structure, record.ref_id, source, fingerprints=fingerprints
                            )
                        )
                        continue
                    reason = row.reason or "no structure"
                    summary.rejected += 1
                    summary.reasons[_reason_class(reason)] += 1
                    if len(summary.first_rejected) < keep_rejected:
                        summary.first_rejected.append({"key": record.ref_id, "reason": reason})
                loaded = insert_references(collection, docs)
                summary.read += len(batch)
                summary.inserted += loaded.inserted
                summary.existing += len(known) + loaded.existing
                bar.update(advance=len(batch))
            after = (summary.read, summary.inserted, summary.existing, summary.rejected)
            counts = [a - b for a, b in zip(after, before, strict=True)]
            summary.files.append(
                {"file": f.name, "format": file_fmt}
                | dict(zip(("read", "inserted", "existing", "rejected"), counts, strict=True))
            )
    return summary
