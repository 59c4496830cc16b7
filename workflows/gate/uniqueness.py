"""Gate stages ``duplicate`` and ``novelty`` on the records that passed the cheap checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from pymatgen.core import Structure

from genflow.workflows.gate.dedupe import StoredRow, StructureIndex, check_novelty, find_duplicates
from genflow.workflows.gate.records import GateRecord, GateStage

__all__ = ["NOVELTY_MODES", "dedupe_records", "novelty_records"]

#: ``gate.novelty`` of a spec: reject a known material, keep it marked, or skip the check.
NOVELTY_MODES = ("reject", "flag", "off")


def dedupe_records(
    records: Sequence[GateRecord],
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    *,
    fingerprints: bool = False,
    workers: int = 1,
) -> list[GateRecord]:
    """Stage ``duplicate`` on the records that passed so far.

    ``stored`` rows may carry their stored fingerprint as a third item. Each record gets the
    fingerprint the search computed for it (every record with ``fingerprints=True``).
    ``workers``: processes for the search against ``stored`` (``find_duplicates``).
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    pairs = [(out[i].key, out[i].structure) for i in live]
    dups = find_duplicates(pairs, stored, fingerprints=fingerprints, workers=workers)
    for i, dup in zip(live, dups, strict=True):
        out[i] = dataclasses.replace(out[i], fingerprint=dup.fingerprint)
        if dup.is_duplicate:
            why = f"duplicate of {dup.against} {dup.duplicate_of}"
            out[i] = out[i].reject(GateStage.DUPLICATE, why, duplicate_of=dup.duplicate_of)
    return out


def novelty_records(
    records: Sequence[GateRecord],
    references: StructureIndex | Iterable[tuple[str, Structure | dict]],
    *,
    mode: str = "reject",
) -> list[GateRecord]:
    """Stage ``novelty`` on the records that passed so far (independent of ``duplicate``).

    A record matching a reference gets ``novel=False`` and the reference's key
    (``source/ref_id``, :func:`genflow.core.references.reference_key`) at ``novelty_match``
    and its id and source at ``novelty_ref_id`` / ``novelty_source``; with ``mode="reject"``
    it is rejected, with ``"flag"`` it passes marked.
    """
    from genflow.core.references import split_reference_key

    if mode not in NOVELTY_MODES or mode == "off":
        raise ValueError(f"novelty mode {mode!r}: want 'reject' or 'flag'")
    out = list(records)
    live = [i for i, r in enumerate(out) if r.passed]
    pairs = [(out[i].key, out[i].structure) for i in live]
    for i, nov in zip(live, check_novelty(pairs, references), strict=True):
        source, ref_id = split_reference_key(nov.match) if nov.match else (None, None)
        out[i] = dataclasses.replace(
            out[i], novel=nov.novel, novelty_match=nov.match, novelty_ref_id=ref_id,
            novelty_source=source,
        )  # fmt: skip
        if nov.novel is False and mode == "reject":
            where = f" ({source})" if source else ""
            out[i] = out[i].reject(GateStage.NOVELTY, f"matches reference {ref_id}{where}")
    return out
