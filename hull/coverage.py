"""Hull coverage: does the reference hold the candidate's composition and its binary systems?

A candidate below a hull that has *no* entry of its reduced composition is a "new composition"
claim; one whose composition the hull already holds is a "new polymorph" claim. A binary
sub-system with no entry at all (no A_xB_y of any stoichiometry) is a hull gap waiting to be
mistaken for a discovery, so every score names the binaries the reference covers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    # The table, not ReferenceHull: coverage reads only the table's columns, and
    # genflow.hull.reference imports this module (importing it back would close a cycle).
    from genflow.hull.table import ReferenceTable

__all__ = ["NEW_COMPOSITION", "NEW_POLYMORPH", "Coverage", "composition_key"]

#: ``novelty`` labels of a score.
NEW_POLYMORPH = "new polymorph"
NEW_COMPOSITION = "new composition"


def composition_key(pairs: Iterable[tuple[str, float]]) -> tuple:
    """Reduced-composition key: sorted (element, atom fraction rounded to 1e-8) pairs.

    Rounded as ``rint(x * 1e8) / 1e8`` (the arithmetic of ``np.round(x, 8)``), so the keys
    ``Coverage`` computes in bulk with numpy are the same floats.
    """
    pairs = sorted(pairs)
    total = sum(a for _, a in pairs)
    return tuple((el, round(a / total * 1e8) / 1e8) for el, a in pairs)


class Coverage:
    """Sets of reduced compositions and chemical systems present in one reference hull."""

    def __init__(self, hull: ReferenceTable) -> None:
        # composition_key of every row from the table's normalised fractions in one numpy
        # rounding (a Python round per amount cost ~1 s per 10^5 rows).
        rounded = np.round(hull._data, 8).tolist()
        bounds = hull._indptr.tolist()
        self.compositions = {
            tuple(zip(cs, rounded[a:b], strict=True))
            for cs, a, b in zip(hull.chemsys, bounds[:-1], bounds[1:], strict=True)
        }
        self.systems = set(hull.chemsys)
        self._binaries: dict[tuple[str, ...], dict[str, bool]] = {}

    @classmethod
    def of(cls, hull: ReferenceTable) -> Coverage:
        """The hull's coverage index, built once per hull object."""
        cached = getattr(hull, "_coverage", None)
        if cached is None:
            cached = cls(hull)
            hull._coverage = cached  # type: ignore[attr-defined]
        return cached

    def fields(self, pairs: Sequence[tuple[str, float]]) -> dict:
        """``composition_known``, ``binaries_known`` (``"A-B"`` → bool) and ``novelty``."""
        return self._fields(composition_key(pairs))

    def fields_many(self, parsed: Sequence[Sequence[tuple[str, float]]]) -> list[dict]:
        """``fields`` of many compositions, each given as sorted ``(element, amount)`` pairs
        (``parse_composition``'s form); the keys are rounded in one numpy call."""
        if not parsed:
            return []
        lens = [len(p) for p in parsed]
        owner = np.repeat(np.arange(len(parsed)), lens)
        amounts = np.fromiter((a for p in parsed for _, a in p), dtype=float, count=len(owner))
        totals = np.bincount(owner, weights=amounts)
        rounded = np.round(amounts / totals[owner], 8).tolist()
        bounds = np.cumsum([0, *lens]).tolist()
        return [
            self._fields(tuple(zip([el for el, _ in p], rounded[a:b], strict=True)))
            for p, a, b in zip(parsed, bounds[:-1], bounds[1:], strict=True)
        ]

    def _fields(self, key: tuple) -> dict:
        known = key in self.compositions
        system = tuple(el for el, _ in key)
        binaries = self._binaries.get(system)
        if binaries is None:  # one dict per chemical system, copied into each score
            binaries = self._binaries[system] = {
                f"{a}-{b}": (a, b) in self.systems for a, b in itertools.combinations(system, 2)
            }
        return {
            "composition_known": known,
            "binaries_known": dict(binaries),
            "novelty": NEW_POLYMORPH if known else NEW_COMPOSITION,
        }
