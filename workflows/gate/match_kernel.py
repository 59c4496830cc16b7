"""``StructureMatcher.fit`` on prepared reduced cells, without its per-call object copies.

In a crowded dedupe nearly every new row is a duplicate, so each costs one confirming fit,
and pymatgen's ``fit`` spends most of its ~5 ms rebuilding ``Structure`` objects: two
``from_sites`` copies, two ``copy`` calls, a lattice reassignment per site, a ``Composition``
hash and a species-grouped mask. The verdict itself is made by a few numeric steps on arrays.
:func:`fit_prepared` runs exactly those steps, with pymatgen's own primitives and in its
order (``Lattice.find_all_mappings``, ``is_coord_subset_pbc``, ``pbc_shortest_vectors``,
``linear_sum_assignment``, ``Lattice.from_parameters``, ``get_lll_reduced_lattice``), on arrays
cached once per cell (:class:`PreparedCell`).

Scope: what ``dedupe`` calls, ``StructureMatcher().fit(a, b, skip_structure_reduction=True)``
with ``attempt_supercell=False``, ``allow_subset=False``, ``scale=True``, no ignored species,
the default ``SpeciesComparator``, on ordered cells of equal size whose sites are plain
elements. :func:`prepare` returns None outside that scope (oxidation states, partial
occupancy, another comparator) and the caller falls back to ``StructureMatcher.fit``.

Why the verdict is pymatgen's: with ``break_on_match`` (what ``fit`` passes) ``_strict_match``
returns the first (lattice mapping, translation) whose largest normalised distance is below
``stol``, and ``fit`` answers ``dist <= stol``; so the verdict is "some mapping and
translation passes ``_cmp_fstruct`` and has max distance < ``stol``", independent of order.
This module evaluates the same candidates with the same arithmetic. ``tests/workflows/
test_match_kernel.py`` and ``benchmarks/bench_dedupe.py`` check it against ``fit`` itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from pymatgen.analysis.structure_matcher import SpeciesComparator, StructureMatcher
from pymatgen.core import Element, Lattice, Structure
from pymatgen.util.coord_cython import is_coord_subset_pbc, pbc_shortest_vectors
from scipy.optimize import linear_sum_assignment

__all__ = ["PreparedCell", "fit_prepared", "kernel_applies", "prepare", "prepare_doc"]


@dataclass(frozen=True)
class PreparedCell:
    """One reduced cell as the matcher reads it: lattice, fractional coordinates, species."""

    matrix: np.ndarray  # the cell's lattice matrix (unscaled)
    frac: np.ndarray  # fractional coordinates, as the Structure holds them
    species: np.ndarray  # per-site element symbol (the comparator's species equality)
    volume: float  # Lattice.volume, pymatgen's own formula


def kernel_applies(matcher: StructureMatcher) -> bool:
    """True if ``matcher``'s settings are the ones :func:`fit_prepared` reproduces."""
    return (
        type(matcher).fit is StructureMatcher.fit  # a subclass's own fit is its verdict
        and type(matcher._comparator) is SpeciesComparator
        and matcher._scale
        and not matcher._supercell
        and not matcher._subset
        and not matcher._ignored_species
    )


def prepare(cell: Structure) -> PreparedCell | None:
    """Arrays of a reduced cell, or None if a site is not one fully occupied element."""
    species = []
    for site in cell:
        items = list(site.species.items())
        if len(items) != 1 or not isinstance(items[0][0], Element) or items[0][1] != 1:
            return None
        species.append(items[0][0].symbol)
    return PreparedCell(
        matrix=np.array(cell.lattice.matrix),
        frac=np.array(cell.frac_coords),
        species=np.array(species),
        volume=cell.lattice.volume,
    )


def prepare_doc(doc: dict) -> PreparedCell | None:
    """:func:`prepare` of ``fingerprint.cell_from_doc(doc)`` without building the Structure.

    The same arrays: ``Lattice`` and ``PeriodicSite`` store ``np.asarray(..., float64)`` of
    the stored lists. Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed doc.
    """
    species = []
    for sp in doc["species"]:
        (symbol, occu), *more = sp.items()
        if more or occu != 1 or not Element.is_valid_symbol(symbol):
            return None  # disordered or decorated (e.g. "Fe2+"): pymatgen's fit decides
        species.append(symbol)
    lattice = Lattice(doc["matrix"])
    frac = np.asarray(doc["frac"], dtype=np.float64)
    if frac.shape != (len(species), 3):
        raise ValueError(f"fingerprint cell: {frac.shape} coordinates for {len(species)} sites")
    return PreparedCell(lattice.matrix, frac, np.array(species), lattice.volume)


def fit_prepared(matcher: StructureMatcher, c1: PreparedCell, c2: PreparedCell) -> bool:
    """``matcher.fit(s1, s2, skip_structure_reduction=True)`` for cells prepared from s1, s2.

    Step by step what ``fit`` -> ``_preprocess`` -> ``_match`` -> ``_strict_match`` do for
    equal-size cells (``fu = 1``, ``s1_supercell``). One shortcut, verdict-preserving:
    s1's own basis vectors, permuted and negated, are tried first when they are strictly
    inside ``find_all_mappings``' tolerances (:func:`_basis_permutations_inside`).
    """
    n = len(c1.species)
    if n != len(c2.species) or sorted(c1.species) != sorted(c2.species):
        return False  # composition hash differs / no species-preserving assignment
    # _preprocess: rescale both lattices to the same volume (fractional coordinates kept)
    ratio = (c2.volume / c1.volume) ** (1 / 6)  # pymatgen's mult is 1 for equal sizes
    lat1 = Lattice(c1.matrix * ratio)
    lat2 = Lattice(c2.matrix / ratio)
    cart1 = np.array([lat1.get_cartesian_coords(f) for f in c1.frac])  # per site, as Sites do
    # _get_mask: mask[i, j] is True when s2 site i cannot map onto s1 site j
    mask = (c2.species[:, None] != c1.species[None, :]).astype(np.int64)
    s2_t_ind = int(np.argmax(np.sum(mask, axis=-1)))
    s1_t_inds = np.where(np.invert(mask[s2_t_ind].astype(bool)))[0]
    pair = _Pair(cart1, c2.frac, lat2, mask, s1_t_inds, s2_t_ind, n, matcher.stol)
    if _identity_inside(lat1, lat2, matcher.ltol, matcher.angle_tol):
        first: Lattice | None = lat1  # the same object: its cached lengths, inverse, ...
    else:
        first = _closest_basis_permutation(lat1, lat2, matcher.ltol, matcher.angle_tol)
    if first is not None and pair.passes(first):
        return True
    # _get_supercells / _get_lattices with fu = 1
    for latt, _, scale_m in lat1.find_all_mappings(
        lat2, ltol=matcher.ltol, atol=matcher.angle_tol, skip_rotation_matrix=True
    ):
        if not math.isclose(abs(np.linalg.det(scale_m)), 1, abs_tol=0.5, rel_tol=0):
            continue
        if first is not None and np.array_equal(latt.matrix, first.matrix):
            continue  # tried first, same numbers
        if pair.passes(latt):
            return True
    return False


#: Margins that keep a candidate strictly inside ``find_all_mappings``' tolerances despite
#: last-bit differences between this module's arithmetic and pymatgen's.
_RELATIVE_MARGIN = 1e-9
_DEGREE_MARGIN = 1e-7


def _length_ratio_bounds(ltol: float) -> tuple[float, float]:
    """Open bounds on |a|/|t| that ``find_all_mappings`` accepts, shrunk by the margin."""
    return (1 + _RELATIVE_MARGIN) / (1 + ltol), (1 + ltol) * (1 - _RELATIVE_MARGIN)


def _identity_inside(lat1: Lattice, lat2: Lattice, ltol: float, atol: float) -> bool:
    """:func:`_closest_basis_permutation`'s test for s1's basis as it is (the usual case)."""
    lo, hi = _length_ratio_bounds(ltol)
    if not all(lo < a / b < hi for a, b in zip(lat1.abc, lat2.abc, strict=True)):
        return False
    max_gap = atol - _DEGREE_MARGIN
    return all(abs(a - b) < max_gap for a, b in zip(lat1.angles, lat2.angles, strict=True))


#: The 48 signed permutation matrices: s1's own basis vectors, reordered and negated.
_SIGNED_PERMUTATIONS = np.array(
    [
        np.diag(signs)[list(perm)]
        for perm in itertools.permutations(range(3))
        for signs in itertools.product((1, -1), repeat=3)
    ]
)


def _closest_basis_permutation(
    lat1: Lattice, lat2: Lattice, ltol: float, atol: float
) -> Lattice | None:
    """s1's basis vectors, permuted and negated, closest to s2's and inside the tolerances.

    ``find_all_mappings`` yields every triple of s1 lattice vectors whose lengths are within
    ``1/(1+ltol) < l/L < 1+ltol`` of s2's and whose angles are within ``atol`` degrees, as
    ``Lattice`` of those vectors (lattice points are integer combinations: ±unit ones are
    s1's rows, exactly). A signed permutation strictly inside (margins 1e-9 relative, 1e-7
    degrees, for last-bit differences from pymatgen's arithmetic) is therefore one of its
    candidates. Two copies of a crystal usually share their Niggli basis up to such a
    permutation, so the closest (smallest summed length-ratio and angle gaps) is tried
    first; a passing candidate ends the search whichever it is, and the full enumeration
    follows only when it does not pass.
    """
    m1 = lat1.matrix
    target_len = np.array(lat2.abc)
    target_ang = np.array(lat2.angles)
    mats = _SIGNED_PERMUTATIONS @ m1  # (48, 3, 3), exact: rows are ±rows of m1
    lengths = np.sqrt(np.sum(mats**2, axis=-1))
    ratios = lengths / target_len
    lo, hi = _length_ratio_bounds(ltol)
    ok = np.all((ratios > lo) & (ratios < hi), axis=1)
    if not ok.any():
        return None
    mats, lengths, ratios = mats[ok], lengths[ok], ratios[ok]
    pairs = ((1, 2), (0, 2), (0, 1))  # alpha (b, c), beta (a, c), gamma (a, b)
    dots = np.stack([np.sum(mats[:, i] * mats[:, j], axis=-1) for i, j in pairs], axis=1)
    cos = dots / np.stack([lengths[:, i] * lengths[:, j] for i, j in pairs], axis=1)
    gaps = np.abs(np.degrees(np.arccos(np.clip(cos, -1, 1))) - target_ang)
    inside = np.all(gaps < atol - _DEGREE_MARGIN, axis=1)
    if not inside.any():
        return None
    score = np.abs(np.log(ratios[inside])).sum(axis=1) / ltol + gaps[inside].sum(axis=1) / atol
    return Lattice(mats[inside][int(np.argmin(score))])


@dataclass(frozen=True)
class _Pair:
    """The per-pair state of ``_strict_match``: s1's Cartesian sites, s2's cell and the mask."""

    cart1: np.ndarray
    s2fc: np.ndarray
    lat2: Lattice
    mask: np.ndarray
    s1_t_inds: np.ndarray
    s2_t_ind: int
    n: int
    stol: float

    def passes(self, latt: Lattice) -> bool:
        """``_strict_match``'s body for one candidate lattice of s1: a translation fits."""
        stol, s2fc, mask = self.stol, self.s2fc, self.mask
        fc = latt.get_fractional_coords(self.cart1)
        fc -= np.floor(fc)
        params = (np.array(latt.parameters) + np.array(self.lat2.parameters)) / 2
        avg_l = Lattice.from_parameters(*params)
        normalization = (self.n / avg_l.volume) ** (1 / 3)
        inv_abc = np.array(avg_l.reciprocal_lattice.abc)
        frac_tol = inv_abc * stol / (np.pi * normalization)
        for s1i in self.s1_t_inds:
            t_s2fc = s2fc + (fc[s1i] - s2fc[self.s2_t_ind])
            if not is_coord_subset_pbc(t_s2fc, fc, frac_tol, mask):  # _cmp_fstruct
                continue
            inv_lll_abc = np.array(avg_l.get_lll_reduced_lattice().reciprocal_lattice.abc)
            lll_frac_tol = inv_lll_abc * stol / (np.pi * normalization)
            # _cart_dists
            vecs, d_2 = pbc_shortest_vectors(
                avg_l, t_s2fc, fc, mask, return_d2=True, lll_frac_tol=lll_frac_tol
            )
            _, sol = linear_sum_assignment(np.asarray(d_2, dtype=float))
            short_vecs = vecs[np.arange(len(sol)), sol]
            translation = np.mean(short_vecs, axis=0)
            new_d2 = np.sum((short_vecs - translation) ** 2, axis=-1)
            if max(new_d2**0.5 * normalization) < stol:
                return True
        return False
