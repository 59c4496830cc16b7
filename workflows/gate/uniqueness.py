"""Gate stages ``duplicate`` and ``novelty`` on the records that passed the cheap checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from pymatgen.core import Structure

from genflow.workflows.gate.dedupe import StoredRow, StructureIndex, check_novelty, find_duplicates
from genflow.workflows.gate.records import GateRecord, GateStage

__all__ = ["dedupe_records"]


def dedupe_records(
    records: Sequence[GateRecord],
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    references: StructureIndex | Iterable[tuple[str, Structure | dict]] | None = None,
    *,
    fingerprints: bool = False,
) -> list[GateRecord]:
    """Stages ``duplicate`` and ``novelty`` on the records that passed so far.

    ``stored`` rows may carry their stored fingerprint as a third item. Each record gets the
    fingerprint the search computed for it (every record with ``fingerprints=True``).
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    pairs = [(out[i].key, out[i].structure) for i in live]
    dups = find_duplicates(pairs, stored, fingerprints=fingerprints)
    for i, dup in zip(live, dups, strict=True):
        out[i] = dataclasses.replace(out[i], fingerprint=dup.fingerprint)
        if dup.is_duplicate:
            why = f"duplicate of {dup.against} {dup.duplicate_of}"
            out[i] = out[i].reject(GateStage.DUPLICATE, why, duplicate_of=dup.duplicate_of)
    if references is not None:
        live = [i for i in live if out[i].passed]
        pairs = [(out[i].key, out[i].structure) for i in live]
        for i, nov in zip(live, check_novelty(pairs, references), strict=True):
            out[i] = dataclasses.replace(out[i], novel=nov.novel, novelty_match=nov.match)
            if nov.novel is False:
                out[i] = out[i].reject(GateStage.NOVELTY, f"matches reference {nov.match}")
    return out
