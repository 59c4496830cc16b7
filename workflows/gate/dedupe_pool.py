"""The stored-index half of ``find_duplicates`` in worker processes.

A new row's search against the stored index does not depend on the other new rows, so it
splits across processes; only the search among the batch itself (a row against earlier rows)
is sequential, and it stays in the parent. Each worker reduces and fingerprints its rows and
runs their fits; the parent gets back, per row, the stored key it matched (or None) and the
fingerprint computed for it, so the batch phase does not reduce the row again.

Workers are forked (POSIX), so they share the parent's index, already bucketed and with its
descriptor arrays built, without pickling it; only row ranges and answers cross processes.
The answers are the serial search's: the same ``StructureIndex._find`` runs on each row.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from pymatgen.core import Structure

from genflow.workflows.gate.dedupe_buckets import CompositionKey, Entry, SizeBucket
from genflow.workflows.gate.fingerprint import Fingerprint

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher

__all__ = ["StoredIndex", "search_stored"]


class StoredIndex(Protocol):
    """What the workers read and update of a ``dedupe.StructureIndex``.

    A protocol, not an import: ``dedupe`` imports this module, and importing it back (even
    for types) would close an import cycle.
    """

    matcher: StructureMatcher
    n_fits: int
    n_pruned: int
    n_pruned_amd: int
    n_same_cell: int
    _pending: dict[CompositionKey, list[Entry]]
    _by_size: dict[CompositionKey, dict[int, SizeBucket]]

    def _bucket(self, ckey: CompositionKey) -> dict[int, SizeBucket]: ...

    def _find(self, query: Entry, ckey: CompositionKey) -> str | None: ...


#: What forked workers read: the index, the rows and their composition keys, and whether to
#: fingerprint every row. Set by ``search_stored`` only while its pool lives.
_STATE: tuple[StoredIndex, Sequence[tuple[str, Structure]], list, bool] | None = None

#: Rows per task: small enough to balance two workers, large enough to amortise a round trip.
CHUNK = 32


def _search_chunk(bounds: tuple[int, int]) -> tuple[list[tuple[str | None, dict | None]], tuple]:
    assert _STATE is not None, "search_stored sets the state before forking"
    index, rows, ckeys, every = _STATE
    before = (index.n_fits, index.n_pruned, index.n_pruned_amd, index.n_same_cell)
    out = []
    lo, hi = bounds
    for (key, structure), ckey in zip(rows[lo:hi], ckeys[lo:hi], strict=True):
        entry = Entry(key, structure)
        hit = index._find(entry, ckey)
        if every:
            entry.fingerprint()
        out.append((hit, entry.computed))
    after = (index.n_fits, index.n_pruned, index.n_pruned_amd, index.n_same_cell)
    return out, tuple(a - b for a, b in zip(after, before, strict=True))


def _prepare(index: StoredIndex, ckeys: Sequence[CompositionKey]) -> None:
    """Bucket the compositions the batch touches and build their arrays before forking."""
    for ckey in set(ckeys):
        if ckey in index._pending or ckey in index._by_size:
            for bucket in index._bucket(ckey).values():
                bucket._sync(index.matcher.ltol, index.matcher.angle_tol)


def search_stored(
    index: StoredIndex,
    rows: Sequence[tuple[str, Structure]],
    ckeys: list[CompositionKey],
    workers: int,
    *,
    fingerprints: bool = False,
) -> list[tuple[str | None, Entry]]:
    """Per row: the key of the stored structure it matches (or None) and its index entry.

    The workers' counters (``n_fits``, ``n_pruned``, ``n_pruned_amd``, ``n_same_cell``) are
    added to ``index``. Entries carry the fingerprint a worker computed (as ``computed``, to store).
    """
    global _STATE
    _prepare(index, ckeys)
    bounds = [(lo, min(lo + CHUNK, len(rows))) for lo in range(0, len(rows), CHUNK)]
    answers: list[tuple[str | None, dict | None]] = []
    _STATE = (index, rows, ckeys, fingerprints)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for part, counts in pool.imap(_search_chunk, bounds):
                answers += part
                index.n_fits += counts[0]
                index.n_pruned += counts[1]
                index.n_pruned_amd += counts[2]
                index.n_same_cell += counts[3]
    finally:
        _STATE = None
    out = []
    for (key, structure), (hit, computed) in zip(rows, answers, strict=True):
        entry = Entry(key, structure, Fingerprint.from_doc(computed))
        entry.computed = computed
        out.append((hit, entry))
    return out
