"""Duplicate and novelty checks that scale: StructureMatcher behind cheap exact prefilters.

Two crystals are duplicates when pymatgen's ``StructureMatcher`` (default tolerances, the
CDVAE/UniMat uniqueness test) fits them. Fitting every pair is quadratic and each fit
recomputes both primitive cells, so :class:`StructureIndex`

1. buckets structures by reduced composition (the matcher never fits different ones),
   computed without parsing, and keeps stored structures as raw dicts until needed;
2. sub-buckets by the site count of the reduced cell (Niggli, then primitive, exactly as the
   matcher reduces): without ``attempt_supercell`` the matcher only fits equal-size cells;
3. within a sub-bucket, skips pairs whose lattices cannot pass the matcher's own lattice
   step (bounds on the successive minima, proven in ``genflow.workflows.gate.fingerprint``),
   then pairs whose AMD vectors differ by more than ``amd_tol`` (L∞);
4. fits the remaining pairs, closest lattice shape first, on cached reduced cells (pymatgen's
   ``fit`` with ``skip_structure_reduction=True``, or for plain ordered cells and a default
   matcher the same verdict from ``match_kernel`` without the per-call object copies), and
   skips a stored cell that is numerically identical to one this query already failed to
   fit (same inputs, same verdict);
5. with ``find_duplicates(..., workers=n)``, runs the search against the stored rows in
   ``n`` forked processes (``dedupe_pool``); the search within the batch stays sequential.

Tolerance semantics. "Duplicate" means ``StructureMatcher().fit(new, earlier)`` is True with
the default tolerances (``ltol=0.2``, ``stol=0.3``, ``angle_tol=5``; ``primitive_cell=True``,
``scale=True``, ``attempt_supercell=False``; not symmetric) on the matcher's reduced cells.
Every pair the index fits gets exactly that verdict. A pair goes unfitted only when (a) the
reduced compositions differ, (b) the reduced cells' site counts differ, (c) the lattice bounds
rule the lattice step out, or (d) the AMD gap exceeds ``amd_tol``. (a)-(c) are exact; (d) is
the one measured step: the matcher fits pairs up to 0.33 apart in ``bench_dedupe.py``'s crowded
set, hence the default 0.35 (a thin margin), and the benchmark checks zero misses against all-pairs
``StructureMatcher`` on sampled rows in the same run. A row's verdict is "duplicate of the
first earlier row that fits", so of several matches the reported partner may differ from an
all-pairs search's, never the duplicate/unique verdict unless (d) misses every match.

Steps 2-4 read a per-structure fingerprint (``fingerprint.fingerprint``). The gate computes
it for each new row it compares and returns it on ``DuplicateResult.fingerprint`` /
``GateRecord.fingerprint``; the campaign stores it at ``gate.fingerprint``
(``fingerprint.FINGERPRINT_FIELD``) and passes stored rows as ``(key, structure, fingerprint)``
so that a stored row is parsed and reduced only when a query survives the prefilters against
it. Rows without one are fingerprinted lazily, as before.

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

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import get_path
from genflow.workflows.gate.dedupe_buckets import CompositionKey, Entry, SizeBucket
from genflow.workflows.gate.fingerprint import FINGERPRINT_FIELD
from genflow.workflows.gate.match_kernel import fit_prepared, kernel_applies

__all__ = [
    "FINGERPRINT_FIELD",
    "DuplicateResult",
    "NoveltyResult",
    "StructureIndex",
    "check_novelty",
    "composition_key",
    "earlier_candidates",
    "earlier_candidates_filter",
    "find_duplicates",
]


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


#: L∞ tolerance of the AMD prefilter on AMD_1..AMD_16 at one Å³ per site (None: off, every
#: pair the lattice bounds keep is fitted). Measured, not proven: ``bench_dedupe.py`` (crowded,
#: 10^3 vs 4·10^3: a fitted pair 0.2465 apart, so 0.15 missed one duplicate; with the AMD step
#: off, the largest gap of 434 fitted pairs was 0.325; at 10^4 vs 4·10^4 the largest seen 0.279).
DEFAULT_AMD_TOL = 0.35

StoredRow = tuple[str, Structure | dict] | tuple[str, Structure | dict, dict | None]


def _unsupported(matcher: StructureMatcher) -> str | None:
    """Why the index cannot reproduce ``matcher``'s verdicts (None: it can).

    The index buckets by element composition, reduces cells to Niggli + primitive and
    compares volume-scaled shapes: the default matcher's behaviour. A matcher that fits
    across compositions (a framework comparator, ignored species), larger cells
    (supercells, subsets) or unscaled or non-primitive cells would be silently missed.
    """
    from pymatgen.analysis.structure_matcher import ElementComparator, SpeciesComparator

    if matcher._supercell or matcher._subset:  # no public accessors
        return "attempt_supercell/allow_subset matchers are not supported"
    if not matcher._primitive_cell or not matcher._scale:
        return "the matcher must reduce to primitive cells and scale volumes (the defaults)"
    if matcher._ignored_species or type(matcher._comparator) not in (
        SpeciesComparator,
        ElementComparator,
    ):
        return "only species/element comparators without ignored species are supported"
    return None


class StructureIndex:
    """Structures indexed for fast duplicate lookup (see the module docstring).

    Parameters
    ----------
    matcher
        The ``StructureMatcher`` deciding equality; default tolerances if None. Must not use
        ``attempt_supercell`` or ``allow_subset`` (the prefilters rely on both being off).
    """

    def __init__(
        self, matcher: StructureMatcher | None = None, amd_tol: float | None = DEFAULT_AMD_TOL
    ) -> None:
        self.matcher = matcher or StructureMatcher()
        self.amd_tol = amd_tol
        if reason := _unsupported(self.matcher):
            raise ValueError(f"StructureIndex: {reason}")
        self._pending: dict[CompositionKey, list[Entry]] = defaultdict(list)
        self._by_size: dict[CompositionKey, dict[int, SizeBucket]] = defaultdict(
            lambda: defaultdict(SizeBucket)
        )
        self.n_fits = 0
        self.n_pruned = 0
        self.n_pruned_amd = 0
        self.n_same_cell = 0  # candidates skipped: same cell as one this query failed to fit
        self._kernel = kernel_applies(self.matcher)

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values()) + sum(
            len(b.entries) for sizes in self._by_size.values() for b in sizes.values()
        )

    def add(self, key: str, structure: Structure | dict, fp: dict | None = None) -> None:
        """Index ``structure`` (a Structure or a pymatgen dict, parsed lazily) under ``key``.

        ``fp`` is its stored fingerprint (``fingerprint.fingerprint``, kept in a candidate
        document at :data:`FINGERPRINT_FIELD`); with one, the structure is parsed only if a
        query passes the prefilter against it. A missing or stale one is computed lazily.
        """
        self._pending[composition_key(structure)].append(
            Entry(key, structure, fp if isinstance(fp, dict) else None)
        )

    def add_many(self, items: Iterable[StoredRow]) -> None:
        """Index ``(key, structure)`` or ``(key, structure, fingerprint)`` rows."""
        for key, structure, *fp in items:
            self.add(key, structure, fp[0] if fp else None)

    def computed_fingerprints(self) -> dict[str, dict]:
        """Fingerprints computed for indexed rows that came without one (worth persisting)."""
        entries = [e for v in self._pending.values() for e in v] + [
            e for sizes in self._by_size.values() for b in sizes.values() for e in b.entries
        ]
        return {e.key: e.computed for e in entries if e.computed is not None}

    def _bucket(self, ckey: CompositionKey) -> dict[int, SizeBucket]:
        sizes = self._by_size[ckey]
        for entry in self._pending.pop(ckey, []):
            sizes[entry.fingerprint().n_sites].append(entry)
        return sizes

    def find(self, structure: Structure) -> str | None:
        """Return the key of an indexed structure matching ``structure``, else None.

        Of several matches, the one whose lattice shape is closest (then the earliest) wins.
        """
        return self._find(Entry("", structure), composition_key(structure))

    def _find(self, query: Entry, ckey: CompositionKey) -> str | None:
        if ckey not in self._pending and ckey not in self._by_size:
            return None
        fp = query.fingerprint()
        bucket = self._bucket(ckey).get(fp.n_sites)
        if bucket is None:
            return None
        candidates, n_amd = bucket.candidates(
            query, self.matcher.ltol, self.matcher.angle_tol, self.amd_tol
        )
        self.n_pruned += len(bucket.entries) - len(candidates) - n_amd
        self.n_pruned_amd += n_amd
        failed: set[str] = set()  # cells this query did not fit: an identical one cannot
        for entry in candidates:
            if (sig := entry.cell_signature()) in failed:
                self.n_same_cell += 1
                continue
            self.n_fits += 1
            if self._fit(query, entry):
                return entry.key
            failed.add(sig)
        return None

    def _fit(self, query: Entry, entry: Entry) -> bool:
        """``matcher.fit`` on the two reduced cells (through ``match_kernel`` when it applies)."""
        if self._kernel:
            q, e = query.prepared(), entry.prepared()
            if q is not None and e is not None:
                return fit_prepared(self.matcher, q, e)
        return self.matcher.fit(query.reduced(), entry.reduced(), skip_structure_reduction=True)

    def _insert(self, entry: Entry, ckey: CompositionKey) -> None:
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
    fingerprint
        The structure's dedupe fingerprint (to store at ``gate.fingerprint``); None if it
        was not needed (no earlier structure of its composition) and not requested.
    """

    key: str
    duplicate_of: str | None = None
    against: str | None = None
    fingerprint: dict | None = None

    @property
    def is_duplicate(self) -> bool:
        """True if the structure repeats an earlier one."""
        return self.duplicate_of is not None


def find_duplicates(
    structures: Sequence[tuple[str, Structure]],
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    matcher: StructureMatcher | None = None,
    *,
    fingerprints: bool = False,
    workers: int = 1,
) -> list[DuplicateResult]:
    """Flag structures that repeat a stored structure or an earlier row of the same batch.

    Parameters
    ----------
    structures
        ``(key, structure)`` of the new batch, in order; the first of a repeated group stays.
    stored
        Earlier candidates (all campaigns): an index, or ``(key, structure-or-dict)`` /
        ``(key, structure-or-dict, fingerprint)`` rows.
    matcher
        Used when ``stored`` is not already an index.
    fingerprints
        Fingerprint every row (one cell reduction each) so all can be stored; by default
        only rows that met an earlier structure of their composition get one.
    workers
        Processes for the search against ``stored`` (``dedupe_pool``; forked, POSIX only);
        the search within the batch stays sequential. Same answers for any value.

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
    ckeys = [composition_key(structure) for _, structure in structures]
    if workers > 1 and len(index):
        from genflow.workflows.gate.dedupe_pool import search_stored

        first = search_stored(index, structures, ckeys, workers, fingerprints=fingerprints)
    else:  # lazily, row by row: a row without a stored match is not searched twice
        first = None
    batch = StructureIndex(index.matcher, index.amd_tol)
    results, entries = [], []
    for pos, ((key, structure), ckey) in enumerate(zip(structures, ckeys, strict=True)):
        if first is None:
            entry = Entry(key, structure)
            hit = index._find(entry, ckey)
        else:
            hit, entry = first[pos]
        if hit is not None:
            dup = DuplicateResult(key, hit, "stored")
        elif (hit := batch._find(entry, ckey)) is not None:
            dup = DuplicateResult(key, hit, "batch")
        else:
            batch._insert(entry, ckey)
            dup = DuplicateResult(key)
        if fingerprints:
            entry.fingerprint()
        results.append(dup)
        entries.append(entry)
    # read at the end: a row's fingerprint may be computed when a later row is compared to it
    results = [
        dataclasses.replace(r, fingerprint=e.computed)
        for r, e in zip(results, entries, strict=True)
    ]
    index.n_fits += batch.n_fits
    index.n_pruned += batch.n_pruned
    index.n_pruned_amd += batch.n_pruned_amd
    index.n_same_cell += batch.n_same_cell
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


def earlier_candidates_filter(formulas: Iterable[str]) -> dict:
    """MongoDB filter for the stored candidates a batch may have to be deduplicated against.

    Only candidates sharing a reduced formula can match, so this loads a small slice of the
    collection. It holds the ``reduced_formula`` ``$in`` alone, so the ``reduced_formula``
    index answers it on SecantusDB too, whose planner scans the collection as soon as a
    ``$ne``/``$nin`` predicate joins in; :func:`earlier_candidates` applies the rest of the
    selection to the documents it returns.
    """
    return {K.REDUCED_FORMULA.value: {"$in": sorted(set(formulas))}}


def earlier_candidates(docs: Iterable[dict], exclude_ids: Iterable[str] = ()) -> list[dict]:
    """The documents of :func:`earlier_candidates_filter` a batch is deduplicated against:
    those with a stored structure, not in the batch itself (``exclude_ids``) and not broken
    cells (gate ``valid`` false: NaN, overlapping atoms), which match nothing."""
    excluded = set(exclude_ids)
    return [
        d
        for d in docs
        if d.get(K.STRUCTURE.value) is not None
        and d.get(K.CANDIDATE_ID.value) not in excluded
        and get_path(d, K.GATE_VALID) is not False
    ]
