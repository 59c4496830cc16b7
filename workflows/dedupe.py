"""Duplicate and novelty checks that scale: StructureMatcher behind two cheap exact prefilters.

Two crystals are duplicates when pymatgen's ``StructureMatcher`` (default tolerances, the
CDVAE/UniMat uniqueness test) fits them. Fitting every pair is quadratic and each fit
recomputes both primitive cells, so :class:`StructureIndex`

1. buckets structures by reduced formula (the matcher never fits different formulas), and
   keeps stored structures as raw dicts until their bucket is first queried;
2. computes each structure's reduced cell (Niggli, then primitive, exactly as the matcher
   does) once, and sub-buckets by its number of sites: without ``attempt_supercell`` the
   matcher only fits equal-size reduced cells, so this skips no true match;
3. fits the few remaining pairs with ``skip_structure_reduction=True`` on the cached cells.

Volume never enters a key: the matcher scales volumes before comparing, so a strained copy
is still a duplicate.

>>> from pymatgen.core import Lattice, Structure
>>> nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> index = StructureIndex()
>>> index.add("mp-22862", nacl)
>>> index.find(nacl.make_supercell([2, 1, 1], in_place=False))
'mp-22862'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

__all__ = [
    "DuplicateResult",
    "NoveltyResult",
    "StructureIndex",
    "check_novelty",
    "earlier_candidates_filter",
    "find_duplicates",
    "reduced_formula_of",
]


def reduced_formula_of(structure: Structure | dict) -> str:
    """Reduced formula of a Structure or a pymatgen structure dict (without parsing sites)."""
    if isinstance(structure, Structure):
        return structure.composition.reduced_formula
    counts: dict[str, float] = defaultdict(float)
    for site in structure["sites"]:
        for sp in site["species"]:
            counts[sp["element"]] += sp.get("occu", 1.0)
    return Composition(counts).reduced_formula


class _Entry:
    """One indexed structure; parsed and reduced on first use."""

    __slots__ = ("_raw", "_reduced", "key")

    def __init__(self, key: str, raw: Structure | dict) -> None:
        self.key = key
        self._raw = raw
        self._reduced: Structure | None = None

    def reduced(self) -> Structure:
        if self._reduced is None:
            s = self._raw if isinstance(self._raw, Structure) else Structure.from_dict(self._raw)
            # the matcher's own reduction (StructureMatcher._get_reduced_istructure)
            self._reduced = s.get_reduced_structure("niggli").get_primitive_structure()
            self._raw = None  # type: ignore[assignment]
        return self._reduced


class StructureIndex:
    """Structures indexed for fast duplicate lookup (see the module docstring).

    Parameters
    ----------
    matcher
        The ``StructureMatcher`` deciding equality; default tolerances if None. Must not use
        ``attempt_supercell`` (the site-count prefilter relies on it being off).
    """

    def __init__(self, matcher: StructureMatcher | None = None) -> None:
        self.matcher = matcher or StructureMatcher()
        if self.matcher._supercell:  # noqa: SLF001 - no public accessor
            raise ValueError("StructureIndex: attempt_supercell matchers are not supported")
        self._pending: dict[str, list[_Entry]] = defaultdict(list)
        self._by_size: dict[str, dict[int, list[_Entry]]] = defaultdict(lambda: defaultdict(list))
        self.n_fits = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values()) + sum(
            len(b) for sizes in self._by_size.values() for b in sizes.values()
        )

    def add(self, key: str, structure: Structure | dict, formula: str | None = None) -> None:
        """Index ``structure`` (a Structure or a pymatgen dict, parsed lazily) under ``key``."""
        formula = formula or reduced_formula_of(structure)
        self._pending[formula].append(_Entry(key, structure))

    def add_many(self, items: Iterable[tuple[str, Structure | dict]]) -> None:
        """Index ``(key, structure)`` pairs."""
        for key, structure in items:
            self.add(key, structure)

    def _bucket(self, formula: str) -> dict[int, list[_Entry]]:
        sizes = self._by_size[formula]
        for entry in self._pending.pop(formula, []):
            sizes[len(entry.reduced())].append(entry)
        return sizes

    def find(self, structure: Structure, formula: str | None = None) -> str | None:
        """Return the key of the first indexed structure matching ``structure``, else None."""
        return self._find(_Entry("", structure), formula or structure.composition.reduced_formula)

    def _find(self, query: _Entry, formula: str) -> str | None:
        if formula not in self._pending and formula not in self._by_size:
            return None
        candidates = self._bucket(formula).get(len(query.reduced()), [])
        for entry in candidates:
            self.n_fits += 1
            if self.matcher.fit(query.reduced(), entry.reduced(), skip_structure_reduction=True):
                return entry.key
        return None

    def _insert(self, entry: _Entry, formula: str) -> None:
        # pending, not reduced: a formula seen once never pays for its reduced cell
        self._pending[formula].append(entry)


@dataclass(frozen=True)
class DuplicateResult:
    """Whether one structure of a batch repeats an earlier one.

    Attributes
    ----------
    key
        The structure's key (candidate id).
    duplicate_of
        Key of the structure it repeats (None if unique).
    against
        ``"stored"`` (an earlier candidate) or ``"batch"`` (an earlier row of this batch).
    """

    key: str
    duplicate_of: str | None = None
    against: str | None = None

    @property
    def is_duplicate(self) -> bool:
        """True if the structure repeats an earlier one."""
        return self.duplicate_of is not None


def find_duplicates(
    structures: Sequence[tuple[str, Structure]],
    stored: StructureIndex | Iterable[tuple[str, Structure | dict]] | None = None,
    matcher: StructureMatcher | None = None,
) -> list[DuplicateResult]:
    """Flag structures that repeat a stored structure or an earlier row of the same batch.

    Parameters
    ----------
    structures
        ``(key, structure)`` of the new batch, in order; the first of a repeated group stays.
    stored
        Earlier candidates (all campaigns): an index or ``(key, structure-or-dict)`` pairs.
    matcher
        Used when ``stored`` is not already an index.

    Returns
    -------
    list[DuplicateResult]
        One per input row, same order.
    """
    if stored is None or not isinstance(stored, StructureIndex):
        index = StructureIndex(matcher)
        index.add_many(stored or ())
    else:
        index = stored
    batch = StructureIndex(index.matcher)
    results = []
    for key, structure in structures:
        entry = _Entry(key, structure)
        formula = structure.composition.reduced_formula
        if (hit := index._find(entry, formula)) is not None:
            results.append(DuplicateResult(key, hit, "stored"))
        elif (hit := batch._find(entry, formula)) is not None:
            results.append(DuplicateResult(key, hit, "batch"))
        else:
            batch._insert(entry, formula)
            results.append(DuplicateResult(key))
    index.n_fits += batch.n_fits
    return results


@dataclass(frozen=True)
class NoveltyResult:
    """Novelty of one structure against reference structures (e.g. a hull's crystals).

    ``novel`` is None when no reference structures were available.
    """

    key: str
    novel: bool | None
    match: str | None = None


def check_novelty(
    structures: Sequence[tuple[str, Structure]],
    references: StructureIndex | Iterable[tuple[str, Structure | dict]] | None,
) -> list[NoveltyResult]:
    """Return, per structure, whether it matches none of ``references`` (and which it matches)."""
    if references is None:
        return [NoveltyResult(key, None) for key, _ in structures]
    index = references if isinstance(references, StructureIndex) else StructureIndex()
    if not isinstance(references, StructureIndex):
        index.add_many(references)
    out = []
    for key, structure in structures:
        hit = index.find(structure)
        out.append(NoveltyResult(key, hit is None, hit))
    return out


def earlier_candidates_filter(formulas: Iterable[str], exclude_ids: Iterable[str] = ()) -> dict:
    """MongoDB filter for the stored candidates a batch must be deduplicated against.

    Only candidates sharing a reduced formula can match, so this loads a small slice of the
    collection; the ``reduced_formula`` index answers it.
    """
    query: dict[str, Any] = {
        "reduced_formula": {"$in": sorted(set(formulas))},
        "structure": {"$ne": None},
    }
    if ids := sorted(set(exclude_ids)):
        query["candidate_id"] = {"$nin": ids}
    return query
