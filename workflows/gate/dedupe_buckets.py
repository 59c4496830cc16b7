"""The duplicate index's storage: lazily reduced entries, and same-size buckets as arrays.

Split from ``dedupe`` so that the search (``dedupe.StructureIndex``) reads as a recipe. A
bucket keeps every descriptor of its entries as one array, grown by appending (never rebuilt
from the entries), so a query costs a few vectorised comparisons over the bucket and Python
work only for the pairs that survive them: at 10^4 queries against buckets of thousands
that is the difference between milliseconds and seconds per thousand queries.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pymatgen.core import Structure

from genflow.workflows.gate.fingerprint import (
    Fingerprint,
    amd_close,
    amd_vector,
    cell_from_doc,
    fingerprint,
    may_match,
    reduced_cell,
    sigma,
)
from genflow.workflows.gate.match_kernel import PreparedCell, prepare, prepare_doc

__all__ = ["CompositionKey", "Entry", "SizeBucket"]

#: A reduced composition as sorted ``(element, amount)`` pairs: the key buckets live under
#: (``dedupe.composition_key`` computes it).
CompositionKey = tuple[tuple[str, float], ...]


class Entry:
    """One indexed structure; parsed, reduced and fingerprinted on first use."""

    __slots__ = ("_amd", "_fp", "_prepared", "_raw", "_reduced", "_sig", "computed", "key")

    def __init__(
        self, key: str, raw: Structure | dict, fp: Fingerprint | dict | None = None
    ) -> None:
        self.key = key
        self._raw = raw
        self._reduced: Structure | None = None
        # a stored fingerprint document is parsed on first use: most of 10^5 stored rows
        # never meet a query of their composition (parsing them all was 20% of a run's CPU)
        self._fp: Fingerprint | dict | None = fp
        self.computed: dict[str, Any] | None = None  # fingerprint computed here (to persist)
        self._amd: np.ndarray | None = None
        self._sig: str | None = None
        self._prepared: PreparedCell | bool | None = False  # False: not prepared yet

    def cell_signature(self) -> str:
        """Equal for two entries whose reduced cells are the same numbers (so fit the same).

        Read from the stored cell when there is one (no rebuild); two equal cells reached by
        different paths may get different signatures, which only costs a fit.
        """
        if self._sig is None:
            fp = self._stored()
            if fp is not None and fp.cell is not None and self._reduced is None:
                doc = fp.cell
                self._sig = repr(("doc", doc["matrix"], doc["species"], doc["frac"]))
            else:
                cell = self.reduced()
                species = [site.species_string for site in cell]
                self._sig = repr(("cell", cell.lattice.matrix.tolist(), species,
                                  cell.frac_coords.tolist()))  # fmt: skip
        return self._sig

    def _stored(self) -> Fingerprint | None:
        """The stored fingerprint, parsed (None if absent, malformed or stale)."""
        if isinstance(self._fp, dict):
            self._fp = Fingerprint.from_doc(self._fp)
        return self._fp

    def reduced(self) -> Structure:
        """The matcher's reduced cell: rebuilt from the fingerprint if stored, else reduced."""
        fp = self._stored()
        if self._reduced is None and fp is not None and fp.cell is not None:
            try:  # the stored reduced cell: no reduction, no parse of the full structure
                self._reduced = cell_from_doc(fp.cell)
                self._raw = None  # type: ignore[assignment]
            except (KeyError, TypeError, ValueError):
                self._fp = dataclasses.replace(fp, cell=None)
        if self._reduced is None:
            s = self._raw if isinstance(self._raw, Structure) else Structure.from_dict(self._raw)
            self._reduced = reduced_cell(s)  # the matcher's own reduction
            self._raw = None  # type: ignore[assignment]
        return self._reduced

    def prepared(self) -> PreparedCell | None:
        """The reduced cell's arrays for ``match_kernel`` (None: outside its scope)."""
        if self._prepared is False:
            fp = self._stored()
            if self._reduced is None and fp is not None and fp.cell is not None:
                try:  # from the stored cell's lists: no Structure built
                    self._prepared = prepare_doc(fp.cell)
                    return self._prepared
                except (KeyError, TypeError, ValueError, AttributeError):
                    pass  # malformed: reduced() rebuilds or reduces it
            self._prepared = prepare(self.reduced())
        return self._prepared  # type: ignore[return-value]

    def fingerprint(self) -> Fingerprint:
        """The parsed fingerprint (computed here, and kept for storage, if none was given)."""
        if self._stored() is None:
            cell = self.reduced()
            self.computed = fingerprint(cell, reduced=cell)
            self._fp = Fingerprint.from_doc(self.computed)
        return self._fp  # type: ignore[return-value]

    def amd(self) -> np.ndarray:
        """The AMD vector (from the fingerprint, or computed on the reduced cell)."""
        if self._amd is None:
            fp = self.fingerprint()
            self._amd = np.asarray(fp.amd if fp.amd is not None else amd_vector(self.reduced()))
        return self._amd


class SizeBucket:
    """Entries of one composition and reduced-cell size, with their descriptors as arrays.

    ``minima``/``lengths``/``sigma``/``amd`` rows follow ``entries``; rows of entries added
    since the last query are appended on the next one. AMD rows of entries whose fingerprint
    lacks one are NaN until a query needs them (filled from the reduced cell then).
    """

    __slots__ = ("_amd", "_lengths", "_minima", "_sigma", "entries", "ltol_angle")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._minima = np.empty((0, 3))
        self._lengths = np.empty((0, 3))
        self._sigma = np.empty(0)
        self._amd: np.ndarray | None = None
        self.ltol_angle: tuple[float, float] | None = None

    def append(self, entry: Entry) -> None:
        """Add an entry (its descriptors join the arrays at the next query)."""
        self.entries.append(entry)

    def _sync(self, ltol: float, angle_tol: float) -> None:
        if self.ltol_angle not in (None, (ltol, angle_tol)):
            raise ValueError("SizeBucket: one bucket serves one matcher's tolerances")
        self.ltol_angle = (ltol, angle_tol)
        new = self.entries[len(self._sigma) :]
        if not new:
            return
        fps = [e.fingerprint() for e in new]
        eigs = np.array([f.cos_eigs for f in fps], dtype=float).reshape(-1, 2)
        self._minima = np.vstack([self._minima, np.array([f.minima for f in fps], dtype=float)])
        self._lengths = np.vstack([self._lengths, np.array([f.lengths for f in fps], dtype=float)])
        self._sigma = np.concatenate([self._sigma, sigma(eigs, ltol, angle_tol)])
        width = next((len(f.amd) for f in fps if f.amd is not None), None)
        if width is None and self._amd is not None:
            width = self._amd.shape[1]
        if width is None:  # no AMD anywhere yet: filled per query
            width = len(new[0].amd())
        rows = np.full((len(new), width), np.nan)
        for i, (e, f) in enumerate(zip(new, fps, strict=True)):
            if f.amd is not None and len(f.amd) == width:
                rows[i] = f.amd
            elif e._amd is not None and len(e._amd) == width:
                rows[i] = e._amd
        self._amd = rows if self._amd is None else np.vstack([self._amd, rows])

    def candidates(
        self, query: Entry, ltol: float, angle_tol: float, amd_tol: float | None = None
    ) -> tuple[list[Entry], int]:
        """Entries the query may fit, closest shape first, and how many the AMD step pruned.

        ``fingerprint.may_match`` (exact-safe), then with ``amd_tol`` ``fingerprint.amd_close``
        (measured tolerance) on the survivors only.
        """
        self._sync(ltol, angle_tol)
        q = np.array(query.fingerprint().minima)
        idx = np.flatnonzero(may_match(q, self._minima, self._lengths, self._sigma, ltol=ltol))
        n_amd = 0
        if amd_tol is not None and len(idx):
            assert self._amd is not None
            q_amd = query.amd()
            if q_amd.shape[0] != self._amd.shape[1]:
                raise ValueError("SizeBucket: AMD vectors of one bucket differ in length")
            for i in idx[np.isnan(self._amd[idx, 0])]:  # rows stored without an AMD
                self._amd[i] = self.entries[i].amd()
            keep = amd_close(q_amd, self._amd[idx], amd_tol)
            n_amd, idx = int(len(idx) - keep.sum()), idx[keep]
        # closest lattice shape first: a duplicate is usually found by the first fit
        shape_gap = np.abs(np.log(self._minima[idx] / q)).sum(axis=1)
        return [self.entries[i] for i in idx[np.argsort(shape_gap, kind="stable")]], n_amd
