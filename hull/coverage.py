"""Hull coverage: does the reference hold the candidate's composition and its binary systems?

A score's ``novelty`` says only what the hull knows: ``"known composition"`` (the hull holds an
entry of the reduced composition) or ``"composition absent from hull"``. Neither says the
crystal is new: that verdict compares structures (``genflow.workflows.verdicts``), and a
composition the hull holds is at most ``unverified`` until a structure of it was compared
(:func:`composition_entry` names the entry). A binary sub-system with no entry at all (no
A_xB_y of any stoichiometry) is a hull gap waiting to be mistaken for a discovery, so every
score names the binaries the reference covers.
Where a missing binary is one that data, not chemistry, left out, the score says
``coverage: thin`` (:func:`thin_binaries`; the Yb, Sm and Ge families of the bundled
``mp2021`` today).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    # The table, not ReferenceHull: coverage reads only the table's columns, and
    # genflow.hull.reference imports this module (importing it back would close a cycle).
    from genflow.hull.table import ReferenceTable

__all__ = [
    "ABSENT_COMPOSITION",
    "COMPOUND_FORMERS",
    "COVERAGE_OK",
    "COVERAGE_THIN",
    "KNOWN_COMPOSITION",
    "Coverage",
    "HullEntry",
    "composition_entry",
    "composition_key",
    "thin_binaries",
]
#: ``novelty`` labels of a score: hull coverage of the composition, never a novelty claim.
KNOWN_COMPOSITION = "known composition"
ABSENT_COMPOSITION = "composition absent from hull"


class HullEntry(NamedTuple):
    """The lowest-energy entry of one reduced composition in a hull table (eV/atom)."""

    ref_id: str
    energy_per_atom: float
    n_sites: int
    on_hull: bool


def composition_entry(table: ReferenceTable, formula: str) -> HullEntry | None:
    """The lowest-energy entry of ``formula``'s reduced composition in ``table`` (None if the
    table holds none). ``n_sites`` is the entry's cell as the table lists it (``K1Nb1O3``: 5);
    ``on_hull``: it is the hull's vertex at that composition (formation energy below zero or
    an elemental reference)."""
    from genflow.core.chem import parse_composition

    key = composition_key(parse_composition(formula))
    system = tuple(el for el, _ in key)
    best = None
    for row, cs in enumerate(table.chemsys):
        same = cs == system and composition_key(table._pairs[row]) == key
        if same and (best is None or table.energies[row] < table.energies[best]):
            best = row
    if best is None:
        return None
    hull_rows = table.rows_in(system, hull_only=True)
    return HullEntry(
        ref_id=table.ids[best],
        energy_per_atom=float(table.energies[best]),
        n_sites=round(sum(a for _, a in table._pairs[best])),
        on_hull=bool(np.isin(best, hull_rows)),
    )


#: ``coverage`` labels of a score (:func:`thin_binaries`).
COVERAGE_OK = "ok"
COVERAGE_THIN = "thin"
#: Non-metals and metalloids that form compounds with practically every other element
#: (hydrides, borides, carbides, silicides, germanides, pnictides, chalcogenides, halides).
COMPOUND_FORMERS = frozenset(
    {"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Ge", "As", "Se", "Br", "Sb", "Te", "I"}
)


def thin_binaries(
    elements: Sequence[str], systems: set[tuple[str, ...]], hull_name: str = "the reference"
) -> list[str]:
    """What makes a chemical system's coverage thin: one line per missing binary (none: not thin).

    The coverage of a system of N ≥ 2 elements is *thin* when some pair (A, B) of its
    elements — the system itself when N = 2 — has no entry at all in the reference (no
    compound of any stoichiometry and no derived MP hull point, ``hull.derived``) although
    exactly one of A, B is in :data:`COMPOUND_FORMERS`. Such a binary (Yb–Te, Sm–Ge, Mg–Ge)
    exists in nature and in MP for practically every pair; its absence means the reference's
    sources never held that family, and the hull there is the elements' line, too high.
    Pairs of two metals or of two formers are left out: many of them form no compound at all
    (Li–Mn, Ca–Sr, S–Te), so their absence says nothing about the data.

    Measured on the bundled ``mp2021`` with the five-fold hold-out of
    ``hull.completeness`` (8,679 MP-20 compositions, each held out once): 7.4 % of
    compositions are thin; at 37 % of those the hull lies > 25 meV/atom above MP's (a
    candidate there looks more stable than it is) against 6.0 % of the rest: a third of all
    such gaps fall in the 7.4 %. Counting
    every missing sub-system of ≥ 2 elements instead would call 47 % thin at 14 %.

    Parameters
    ----------
    elements
        The chemical system (any order).
    systems
        Chemical systems (sorted element tuples) the reference holds an entry of.
    hull_name
        Named in the lines.

    Returns
    -------
    list of str
        E.g. ``["no binary Te–Yb compound in mp2021"]``, sorted; empty when coverage is ok.
    """
    return [
        f"no binary {a}–{b} compound in {hull_name}"
        for a, b in itertools.combinations(sorted(set(elements)), 2)
        if (a in COMPOUND_FORMERS) != (b in COMPOUND_FORMERS) and (a, b) not in systems
    ]


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
        self.name = getattr(hull, "name", None) or "the reference"
        self._binaries: dict[tuple[str, ...], dict[str, bool]] = {}
        self._thin: dict[tuple[str, ...], list[str]] = {}

    @classmethod
    def of(cls, hull: ReferenceTable) -> Coverage:
        """The hull's coverage index, built once per hull object."""
        cached = getattr(hull, "_coverage", None)
        if cached is None:
            cached = cls(hull)
            hull._coverage = cached  # type: ignore[attr-defined]
        return cached

    def fields(self, pairs: Sequence[tuple[str, float]]) -> dict:
        """``composition_known``, ``binaries_known`` (``"A-B"`` → bool), ``novelty``,
        ``coverage`` (``"thin"`` or ``"ok"``) and ``coverage_missing`` (:func:`thin_binaries`)."""
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
        missing = self._thin.get(system)
        if missing is None:
            missing = self._thin[system] = thin_binaries(system, self.systems, self.name)
        return {
            "composition_known": known,
            "binaries_known": dict(binaries),
            "novelty": KNOWN_COMPOSITION if known else ABSENT_COMPOSITION,
            "coverage": COVERAGE_THIN if missing else COVERAGE_OK,
            "coverage_missing": list(missing),
        }
