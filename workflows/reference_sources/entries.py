"""pymatgen entry and document dumps: Materials Project JSON, Alexandria, MatterGen's sets.

Layouts read (plain, ``.gz``, ``.bz2`` or ``.xz``; the document is the file's only JSON value):

==========================  ================================================================
``{"entries": [...]}``      Alexandria's ``alexandria_NNN.json.bz2`` (and ``alex_mp_20`` entry
                            dumps): ``ComputedStructureEntry`` dicts
``[...]``                   a list of ``ComputedStructureEntry`` / ``ComputedEntry`` dicts
                            (``monty.serialization.dumpfn(mpr.get_entries(...))``) or of
                            Materials Project summary documents (``material_id``,
                            ``structure``, ...)
``{"data": [...]}``         the same documents as the MP REST API answers them
==========================  ================================================================

Each item's structure is its ``structure`` dict (a ``ComputedEntry`` has none: that item is a
row with its reason). Its id is the first present of ``material_id``, ``data.material_id``
(MP thermo entries, whose ``entry_id`` carries a run type: ``mp-149-GGA``), ``data.mat_id``
(Alexandria), ``entry_id``, ``task_id``, ``id``; else ``<file>#<n>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genflow.core.structure_io import StructureRow
from genflow.core.structure_io.formats import structure_from_dict
from genflow.core.structure_io.rows import error_row, parsed_row
from genflow.workflows.reference_sources.records import Record, Source, read_json_file

__all__ = ["entry_id", "entry_items", "read_entries"]

_ENTRY_CLASSES = ("ComputedStructureEntry", "ComputedEntry", "GibbsComputedStructureEntry")


def entry_items(document: Any) -> list[Any]:
    """The items of a dump (module docstring layouts); a lone document is a list of one."""
    if isinstance(document, dict):
        for key in ("entries", "data"):
            if isinstance(document.get(key), list):
                return document[key]
        return [document]
    if isinstance(document, list):
        return document
    raise ValueError(f"expected a JSON list or object, got {type(document).__name__}")


def entry_id(item: Any) -> str | None:
    """The id of one entry or document (module docstring order), or None."""
    if not isinstance(item, dict):
        return None
    data = item.get("data") if isinstance(item.get("data"), dict) else {}
    for value in (
        item.get("material_id"),
        data.get("material_id"),
        data.get("mat_id"),
        item.get("entry_id"),
        item.get("task_id"),
        item.get("id"),
    ):
        if value not in (None, ""):
            return str(value)
    return None


def _parse(key: str, item: Any, source: str) -> StructureRow:
    if not isinstance(item, dict):
        return error_row(key, f"not an entry: a JSON {type(item).__name__}", source=source)
    structure = item.get("structure")
    if structure is None:
        cls = item.get("@class", "document")
        hint = " (dump ComputedStructureEntry objects)" if cls in _ENTRY_CLASSES else ""
        return error_row(key, f"{cls} without a structure{hint}", source=source)
    return parsed_row(key, source, None, "structure dict", lambda: structure_from_dict(structure))


def read_entries(path: str | Path) -> Source:
    """The records of one dump; each item is released once parsed (a dump is read whole)."""
    path = Path(path)
    items = entry_items(read_json_file(path))

    def records() -> Iterator[Record]:
        for i in range(len(items)):
            ref_id = entry_id(items[i]) or f"{path.name}#{i + 1}"

            def parse(i: int = i, ref_id: str = ref_id) -> StructureRow:
                item, items[i] = items[i], None  # keep memory to the unparsed rest
                return _parse(ref_id, item, str(path))

            yield Record(ref_id, parse)

    return Source(records(), len(items))
