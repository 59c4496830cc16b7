"""Duplicate and novelty checks that scale: StructureMatcher behind two cheap exact prefilters.

Two crystals are duplicates when pymatgen's ``StructureMatcher`` (default tolerances, the
CDVAE/UniMat uniqueness test) fits them. Fitting every pair is quadratic and each fit
recomputes both primitive cells, so :class:`StructureIndex`

1. buckets structures by reduced composition (the matcher never fits different ones),
   computed without parsing, and keeps stored structures as raw dicts until their bucket is
   first queried;
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

import math
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
    "composition_key",
    "earlier_candidates_filter",
    "find_duplicates",
]


CompositionKey = tuple[tuple[str, float], ...]


def composition_key(structure: Structure | dict) -> CompositionKey:
    """Reduced composition as a hashable key: sorted ``(element, amount / gcd)`` pairs.

    Works on a Structure or a pymatgen structure dict without building a ``Composition``
    (10x cheaper, which matters for 10^4-10^5 rows). Oxidation states are dropped, so a bucket
    is a superset of what the matcher may fit; the matcher still decides.
    """
    counts: dict[str, float] = defaultdict(float)
    if isinstance(structure, Structure):
        for site in structure:
            for sp, occu in site.species.items():
                counts[getattr(sp, "symbol", str(sp))] += occu
    else:
        for site in structure["sites"]:
            for sp in site["species"]:
                counts[sp["element"]] += sp.get("occu", 1.0)
    if all(float(v).is_integer() for v in counts.values()):
        g = math.gcd(*(int(v) for v in counts.values())) or 1
        return tuple(sorted((el, v / g) for el, v in counts.items()))
    comp = Composition(counts).reduced_composition  # disordered: let pymatgen reduce
    return tuple(sorted(comp.get_el_amt_dict().items()))


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
        if self.matcher._supercell:  # no public accessor
            raise ValueError("StructureIndex: attempt_supercell matchers are not supported")
        self._pending: dict[CompositionKey, list[_Entry]] = defaultdict(list)
        self._by_size: dict[CompositionKey, dict[int, list[_Entry]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.n_fits = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values()) + sum(
            len(b) for sizes in self._by_size.values() for b in sizes.values()
        )

    def add(self, key: str, structure: Structure | dict) -> None:
        """Index ``structure`` (a Structure or a pymatgen dict, parsed lazily) under ``key``."""
        self._pending[composition_key(structure)].append(_Entry(key, structure))

    def add_many(self, items: Iterable[tuple[str, Structure | dict]]) -> None:
        """Index ``(key, structure)`` pairs."""
        for key, structure in items:
            self.add(key, structure)

    def _bucket(self, ckey: CompositionKey) -> dict[int, list[_Entry]]:
        sizes = self._by_size[ckey]
        for entry in self._pending.pop(ckey, []):
            sizes[len(entry.reduced())].append(entry)
        return sizes

    def find(self, structure: Structure) -> str | None:
        """Return the key of the first indexed structure matching ``structure``, else None."""
        return self._find(_Entry("", structure), composition_key(structure))

    def _find(self, query: _Entry, ckey: CompositionKey) -> str | None:
        if ckey not in self._pending and ckey not in self._by_size:
            return None
        candidates = self._bucket(ckey).get(len(query.reduced()), [])
        for entry in candidates:
            self.n_fits += 1
            if self.matcher.fit(query.reduced(), entry.reduced(), skip_structure_reduction=True):
                return entry.key
        return None

    def _insert(self, entry: _Entry, ckey: CompositionKey) -> None:
        # pending, not reduced: a composition seen once never pays for its reduced cell
        self._pending[ckey].append(entry)


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
        ckey = composition_key(structure)
        if (hit := index._find(entry, ckey)) is not None:
            results.append(DuplicateResult(key, hit, "stored"))
        elif (hit := batch._find(entry, ckey)) is not None:
            results.append(DuplicateResult(key, hit, "batch"))
        else:
            batch._insert(entry, ckey)
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
