"""The ``references`` collection: known crystal structures the novelty gate compares against.

One document per reference structure, unique on ``(source, ref_id)``:

=====================  ================================================================
``ref_id``             the id in its source (``mp-1234``, a GNoME id, a file key)
``source``             where it comes from (``mp_20``, ``perov_5``, ``gnome``, a user name)
``reduced_formula``    pymatgen reduced formula (the gate reads one formula bucket at a time)
``chemsys``            chemical system, sorted and dash-joined (``"Fe-Li-O"``); filled from
                       ``reduced_formula`` when a loader leaves it out
``structure``          pymatgen structure dict, or None when only ``cif`` is stored
``cif``                CIF text (the bundled sets keep their CIF; parsed when first needed)
``fingerprint``        the dedupe fingerprint (``genflow.workflows.gate.fingerprint``), or
                       None until the gate first compares a structure against it
``added_at``           when it was loaded
=====================  ================================================================

Both ``reduced_formula`` and ``chemsys`` are indexed (``genflow.core.store``), so a lookup
reads one bucket of a million-document collection, not the collection.

Loading is idempotent: a reference already stored is counted, never overwritten; an import
that stopped half way asks :func:`stored_ref_ids` which ids of its next batch are stored and
skips them before parsing anything (the resume). Fingerprints computed later are written back
with :func:`set_fingerprints`. Building documents (parsing,
fingerprinting, the bundled sets) is the workflows room's job
(:mod:`genflow.workflows.references`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo import UpdateOne

from genflow.core.candidates import insert_new, utcnow
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = [
    "LoadSummary",
    "chemsys_of_formula",
    "insert_references",
    "reference_key",
    "reference_sources",
    "references_for_chemsys",
    "references_for_formulas",
    "set_fingerprints",
    "split_reference_key",
    "stored_ref_ids",
]

_BATCH = 1000
_KEY_SEP = "/"


def reference_key(source: str, ref_id: str) -> str:
    """One string naming a reference (``"mp_20/mp-1234"``), as the gate's index keys it."""
    return f"{source}{_KEY_SEP}{ref_id}"


def split_reference_key(key: str) -> tuple[str | None, str]:
    """``(source, ref_id)`` of :func:`reference_key` (source None if the key has none)."""
    source, sep, ref_id = key.partition(_KEY_SEP)
    return (source, ref_id) if sep else (None, key)


def chemsys_of_formula(formula: str) -> str | None:
    """``"Fe-Li-O"`` for ``"LiFeO2"``; None for a formula that does not parse."""
    from genflow.core.chem import chemsys_string, parse_composition

    try:
        return chemsys_string(el for el, _ in parse_composition(formula))
    except (ValueError, KeyError):
        return None


@dataclass(frozen=True)
class LoadSummary:
    """Outcome of :func:`insert_references`: new documents and ones already stored."""

    inserted: int = 0
    existing: int = 0


def insert_references(collection: Collection, docs: Iterable[Mapping[str, Any]]) -> LoadSummary:
    """Insert reference documents (module docstring fields); skip ``(source, ref_id)`` pairs
    already stored. Batched: one ``insert_many`` per 1000 documents."""
    inserted = existing = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal inserted, existing, batch
        new, old = insert_new(collection, batch, what="insert references")
        inserted, existing, batch = inserted + new, existing + old, []

    now = utcnow()
    for doc in docs:
        full = {"structure": None, "cif": None, "fingerprint": None, **doc, "added_at": now}
        if full.get("chemsys") is None:
            full["chemsys"] = chemsys_of_formula(full["reduced_formula"])
        batch.append(full)
        if len(batch) >= _BATCH:
            flush()
    flush()
    return LoadSummary(inserted, existing)


def references_for_formulas(collection: Collection, formulas: Iterable[str]) -> list[dict]:
    """Every stored reference whose reduced formula is one of ``formulas``."""
    wanted = sorted({f for f in formulas if f})
    if not wanted:
        return []
    query = {"reduced_formula": {"$in": wanted}}
    return retry_call(
        lambda: list(collection.find(query, {"_id": 0, "added_at": 0})), what="read references"
    )


def references_for_chemsys(collection: Collection, chemsys: Iterable[str]) -> list[dict]:
    """Every stored reference of one of these chemical systems (``"Fe-Li-O"``, any spelling)."""
    from genflow.core.chem import chemsys_string

    wanted = sorted({chemsys_string(c) for c in chemsys if c})
    if not wanted:
        return []
    query = {"chemsys": {"$in": wanted}}
    return retry_call(
        lambda: list(collection.find(query, {"_id": 0, "added_at": 0})), what="read references"
    )


def stored_ref_ids(
    collection: Collection, source: str, ref_ids: Iterable[str], *, probe: bool = False
) -> set[str]:
    """Which of ``ref_ids`` of ``source`` are stored already, read on the unique index.

    An import asks this once per batch, before parsing it, so re-running an import (or
    resuming one that stopped) costs a query per batch, not a parse per record.

    ``probe``: first ask for the batch's first and last id only, and answer "none" when
    neither is stored. An import stores a batch whole (or, interrupted, part of one batch),
    so this is exact for a re-run of the same file, and a wrong guess costs only a parse:
    the unique index still refuses the duplicate. It matters on SecantusDB, which answers
    an ``$in`` at ~2 ms per id (``benchmarks/bench_refs_scale.py``): a first import of a
    million references would otherwise spend half an hour asking about ids it has not stored.
    (A range or ``find_one`` on ``source`` is no cheaper there: it reads every matching
    document before the limit.)
    """
    ids = list(dict.fromkeys(ref_ids))
    if not ids:
        return set()
    if probe and len(ids) > 2:
        ends = _ref_ids(collection, {"source": source, "ref_id": {"$in": [ids[0], ids[-1]]}})
        if not ends:
            return set()
    return set(_ref_ids(collection, {"source": source, "ref_id": {"$in": ids}}))


def _ref_ids(collection: Collection, query: dict) -> list[str]:
    def read() -> list[str]:
        cursor = collection.find(query, {"_id": 0, "ref_id": 1})
        return [d["ref_id"] for d in cursor]

    return retry_call(read, what="read reference ids")


def set_fingerprints(collection: Collection, fingerprints: Mapping[str, dict]) -> int:
    """Store fingerprints keyed by :func:`reference_key`; return how many were written."""
    ops = []
    for key, fp in fingerprints.items():
        source, ref_id = split_reference_key(key)
        if source is not None and fp is not None:
            ops.append(
                UpdateOne({"source": source, "ref_id": ref_id}, {"$set": {"fingerprint": fp}})
            )
    if not ops:
        return 0
    retry_call(lambda: collection.bulk_write(ops, ordered=False), what="store fingerprints")
    return len(ops)


def reference_sources(collection: Collection) -> dict[str, dict[str, int]]:
    """Per source: ``n`` references, ``n_formulas`` distinct formulas, ``n_fingerprinted``."""
    pipeline = [
        {
            "$group": {
                "_id": "$source",
                "n": {"$sum": 1},
                "formulas": {"$addToSet": "$reduced_formula"},
                "n_fingerprinted": {"$sum": {"$cond": [{"$ne": ["$fingerprint", None]}, 1, 0]}},
            }
        },
        {"$sort": {"_id": 1}},
    ]
    rows = retry_call(lambda: list(collection.aggregate(pipeline)), what="count references")
    return {
        r["_id"]: {
            "n": r["n"],
            "n_formulas": len(r["formulas"]),
            "n_fingerprinted": r["n_fingerprinted"],
        }
        for r in rows
    }
