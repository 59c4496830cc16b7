"""A duplicate-search fingerprint that never separates two structures StructureMatcher fits.

Computed once per structure (at gate time) and stored on the candidate as
``gate.fingerprint`` (:data:`FINGERPRINT_FIELD`), so later dedupe runs compare stored rows
without parsing or reducing them. It holds the matcher's reduced cell (Niggli, then primitive,
exactly as ``StructureMatcher`` reduces) and three lattice descriptors of it, all divided by
``V**(1/3)`` of that cell (the matcher rescales both cells to one volume, so only shape counts):

``n_sites``
    Sites of the reduced cell. Without ``attempt_supercell``/``allow_subset`` the matcher
    returns no match unless both reduced cells have equally many sites (``_strict_match``).
``minima``
    Successive minima λ1 ≤ λ2 ≤ λ3 of the lattice (basis independent).
``lengths``
    Sorted basis lengths of the reduced cell as the matcher sees it.
``cos_eigs``
    Smallest and largest eigenvalue of that basis' cosine matrix ``C_ij = cos θ_ij``.
``amd``
    Average minimum distances AMD_1..AMD_k (Widdowson & Kurlin, ``average-minimum-distance``)
    of the reduced cell rescaled to one Å³ per site: a continuous isometry invariant. Unlike
    the lattice descriptors it is **not** exact-safe (see :func:`amd_close`); the prefilter
    that uses it runs on a measured tolerance. Absent from older fingerprints (computed
    lazily from ``cell``).
``cell``
    The reduced cell itself (lattice matrix, species, fractional coordinates), so a stored
    row that must be fitted is rebuilt instead of reduced again.

Why :func:`may_match` is exact-safe (a conservative superset of the matcher's fits).
``matcher.fit(query, stored)`` (equal site counts, so no swap in ``_match``) calls
``query.lattice.find_all_mappings(stored.lattice)``: a match needs a basis A of the query
lattice with ``|a_i| / |t_i|`` in ``(1/(1+ltol), 1+ltol)`` and ``|θ^A_ij - θ^T_ij| <= angle_tol``
against the stored basis T (and ``|det| = 1``, so A is a basis). Then, on normalised lengths,

* upper bound: A holds three independent lattice vectors, so
  ``λ_k(query) <= k-th smallest |a_i| < (1+ltol) * lengths_k(stored)``;
* lower bound: with ``y = diag|t| n`` for an integer vector n,
  ``|A n|^2 = (E y)^T C_A (E y) >= λmin(C_A) |y|^2 / (1+ltol)^2`` and
  ``|T n|^2 <= λmax(C_T) |y|^2``; each cosine moves by at most ``δ = 2 sin(angle_tol/2)``,
  so ``λmin(C_A) >= λmin(C_T) - 2δ`` (Weyl, row-sum norm). Hence ``|A n| >= σ |T n|`` with
  ``σ^2 = (λmin(C_T) - 2δ) / ((1+ltol)^2 λmax(C_T))``, and the bijection T n -> A n between
  the two lattices gives ``λ_k(query) >= σ λ_k(stored)``.

Both bounds are necessary conditions of the matcher's own lattice step, so a pair failing
either is one the matcher cannot fit; a relative slack of 1e-6 covers rounding. Nothing
derived from site positions (bond lengths, coordination) is used: the matcher moves sites
by up to ``stol`` of the mean site spacing, so such descriptors are not safe.

A fingerprint depends on pymatgen's reduction, so it records the pymatgen version; one from
another version is ignored and recomputed.

>>> from pymatgen.core import Lattice, Structure
>>> nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> fp = fingerprint(nacl)
>>> fp["n_sites"], [round(x, 3) for x in fp["minima"]]
(2, [1.0, 1.0, 1.0])
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from genflow.core.candidates import CandidateKey

__all__ = [
    "FINGERPRINT_FIELD",
    "FINGERPRINT_VERSION",
    "Fingerprint",
    "cell_from_doc",
    "fingerprint",
    "may_match",
    "reduced_cell",
]

#: AMD terms kept (k nearest neighbours per motif point).
AMD_K = 16

#: Where a candidate document keeps its fingerprint (``GateRecord.gate_doc()["fingerprint"]``).
FINGERPRINT_FIELD = CandidateKey.GATE_FINGERPRINT.value
FINGERPRINT_VERSION = 1
_SLACK = 1e-6


@cache
def _pymatgen_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("pymatgen-core", "pymatgen"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


def reduced_cell(structure: Structure) -> Structure:
    """The cell ``StructureMatcher`` fits: Niggli-reduced, then primitive (its own order).

    pymatgen's ``get_primitive_structure`` (tolerance 0.25 Å) is skipped, with the identical
    result, when it provably finds no smaller cell and so returns a copy of its input:

    * the site counts per species have gcd 1: it only tries supercell matrices whose
      determinant divides that gcd;
    * or :func:`_no_lattice_translation`: no translation between two sites of its least
      frequent species maps every site onto a site of the same species within twice the
      tolerance, which every smaller cell it could return needs.

    Most generated and relaxed cells are primitive, and the search is about half of the
    reduction's cost, so this matters for 10^4-row dedupes.
    """
    niggli = structure.get_reduced_structure("niggli")
    counts = Counter(site.species_string for site in niggli)  # pymatgen's own site grouping
    if math.gcd(*counts.values()) == 1 or _no_lattice_translation(niggli, 0.25):
        return niggli
    return niggli.get_primitive_structure()


def _no_lattice_translation(cell: Structure, tolerance: float) -> bool:
    """True if ``cell.get_primitive_structure(tolerance)`` must return the cell unchanged.

    Mirrors the first step of pymatgen's search. Its candidate translations are the vectors
    from the first site of the least frequent species (first by label among equals) to the
    others of that species; it keeps a vector only if, for every species group and every
    site f of it, some site f' of the group has ``f' - f`` within ``2 * tolerance / abc``
    of it (per component, periodic). Here the same test runs with a hair more tolerance
    (a superset of the vectors pymatgen keeps). If only the zero vector survives, no
    supercell matrix of determinant >= 2 passes its next test: each has a row of its inverse
    with a component 1/d away from any integer (d <= the gcd of the counts), more than
    ``tolerance / abc`` allows; that last condition is checked too. Then pymatgen returns
    ``self.copy()``, the same numbers as the cell.
    """
    labels = np.array([site.species_string for site in cell])
    frac = cell.frac_coords
    groups = [frac[labels == label] for label in sorted(set(labels.tolist()))]
    ftol = tolerance / np.array(cell.lattice.abc)
    num_fu = math.gcd(*(len(g) for g in groups))
    if np.any(ftol * (1 + 1e-6) >= 1 / num_fu):
        return False
    smallest = min(groups, key=len)  # min() keeps the first of equal lengths, as pymatgen
    vecs = smallest[1:] - smallest[0]
    tol2 = 2 * ftol * (1 + 1e-6) + 1e-12
    for g in groups:
        if not len(vecs):
            return True
        diffs = g[None, :, :] - g[:, None, :]  # diffs[f, f'] = f' - f
        delta = vecs[:, None, None, :] - diffs[None]
        delta = np.abs(delta - np.round(delta))
        keep = np.all(np.any(np.all(delta <= tol2, axis=-1), axis=2), axis=1)
        vecs = vecs[keep]
    return not len(vecs)


def successive_minima(lattice: Lattice) -> np.ndarray:
    """λ1 ≤ λ2 ≤ λ3: lengths of the shortest three linearly independent lattice vectors.

    Exact by enumeration: every λ_k is at most the longest basis vector, and a vector of
    length <= R has ``|n_i| <= R |b*_i|`` (reciprocal basis without 2π).
    """
    m = lattice.matrix
    radius = float(np.linalg.norm(m, axis=1).max()) * (1 + 1e-9)
    recip = np.linalg.norm(np.linalg.inv(m), axis=0)  # |b*_i|
    n_max = np.floor(radius * recip + 1e-9).astype(int)
    grids = np.meshgrid(*(np.arange(-k, k + 1) for k in n_max), indexing="ij")
    vecs = np.stack([g.ravel() for g in grids], axis=1) @ m
    lengths = np.linalg.norm(vecs, axis=1)
    keep = lengths > 1e-8 * radius
    vecs, lengths = vecs[keep], lengths[keep]
    order = np.argsort(lengths, kind="stable")
    vecs, lengths = vecs[order], lengths[order]
    # shortest; then shortest not parallel to it; then shortest off their plane
    tol = 1e-8
    cross = np.linalg.norm(np.cross(vecs, vecs[0]), axis=1)
    j = int(np.argmax(cross > tol * lengths * lengths[0]))
    normal = np.cross(vecs[0], vecs[j])
    k = int(np.argmax(np.abs(vecs @ normal) > tol * lengths * np.linalg.norm(normal)))
    return np.array([lengths[0], lengths[j], lengths[k]])


def _cell_doc(cell: Structure) -> dict[str, Any]:
    return {
        "matrix": cell.lattice.matrix.tolist(),
        "species": [site.species.as_dict() for site in cell],
        "frac": cell.frac_coords.tolist(),
    }


def cell_from_doc(doc: dict[str, Any]) -> Structure:
    """The reduced cell stored in a fingerprint (``fingerprint(...)["cell"]``)."""
    return Structure(Lattice(doc["matrix"]), doc["species"], doc["frac"])


def fingerprint(structure: Structure, reduced: Structure | None = None) -> dict[str, Any]:
    """Return the JSON/BSON-safe fingerprint of ``structure`` (see the module docstring).

    Parameters
    ----------
    structure
        The structure as the gate stores it.
    reduced
        Its reduced cell if already computed (``reduced_cell(structure)``).
    """
    cell = reduced if reduced is not None else reduced_cell(structure)
    lattice = cell.lattice
    scale = abs(lattice.volume) ** (1 / 3)
    cosines = np.cos(np.radians(np.array(lattice.angles)))
    ca, cb, cg = cosines  # cos α (b, c), cos β (a, c), cos γ (a, b)
    c = np.array([[1.0, cg, cb], [cg, 1.0, ca], [cb, ca, 1.0]])
    eigs = np.linalg.eigvalsh(c)
    return {
        "version": FINGERPRINT_VERSION,
        "pymatgen": _pymatgen_version(),
        "n_sites": len(cell),
        "minima": [float(x) for x in successive_minima(lattice) / scale],
        "lengths": sorted(float(x) / scale for x in lattice.abc),
        "cos_eigs": [float(eigs[0]), float(eigs[-1])],
        "amd": amd_vector(cell),
        "cell": _cell_doc(cell),
    }


@dataclass(frozen=True)
class Fingerprint:
    """Parsed fingerprint (arrays for vectorised comparison)."""

    n_sites: int
    minima: tuple[float, float, float]
    lengths: tuple[float, float, float]
    cos_eigs: tuple[float, float]
    cell: dict | None = None
    amd: tuple[float, ...] | None = None

    @classmethod
    def from_doc(cls, doc: Any) -> Fingerprint | None:
        """Parse a stored fingerprint; None if absent, malformed or from another version."""
        if not isinstance(doc, dict):
            return None
        if doc.get("version") != FINGERPRINT_VERSION or doc.get("pymatgen") != _pymatgen_version():
            return None
        try:
            fp = cls(
                int(doc["n_sites"]),
                tuple(float(x) for x in doc["minima"]),  # type: ignore[arg-type]
                tuple(float(x) for x in doc["lengths"]),  # type: ignore[arg-type]
                tuple(float(x) for x in doc["cos_eigs"]),  # type: ignore[arg-type]
                doc.get("cell") if isinstance(doc.get("cell"), dict) else None,
                _amd_from_doc(doc.get("amd")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        values = (*fp.minima, *fp.lengths, *fp.cos_eigs)
        if len(fp.minima) != 3 or len(fp.lengths) != 3 or len(fp.cos_eigs) != 2:
            return None
        return fp if all(math.isfinite(v) for v in values) else None


def _amd_from_doc(value: Any) -> tuple[float, ...] | None:
    try:
        amd = tuple(float(x) for x in value)
    except TypeError:
        return None
    return amd if len(amd) == AMD_K and all(math.isfinite(x) for x in amd) else None


def amd_vector(cell: Structure, k: int = AMD_K) -> list[float]:
    """AMD_1..AMD_k of ``cell`` rescaled to one Å³ per site (the matcher scales volumes).

    Species are ignored (the index only compares equal compositions). Continuous under site
    displacement: moving every site by at most ε moves each AMD term by at most 2ε
    (Widdowson & Kurlin 2022, Thm 4.3).
    """
    import amd

    scale = (len(cell) / abs(cell.lattice.volume)) ** (1 / 3)
    pset = amd.PeriodicSet(cell.cart_coords * scale, cell.lattice.matrix * scale)
    return [float(x) for x in amd.AMD(pset, k)]


def amd_close(query: np.ndarray, stored: np.ndarray, tol: float) -> np.ndarray:
    """Mask of stored AMD rows within ``tol`` of the query in L∞ (Chebyshev) distance.

    A heuristic prefilter, not a bound: StructureMatcher accepts lattice strain up to
    ``ltol`` and site moves up to ``stol`` of the mean site spacing, which the AMD bound
    (2ε per term) only covers at ``tol`` ≈ 0.6, where it prunes nothing. ``tol`` is measured
    instead: ``benchmarks/bench_dedupe.py`` reports the largest AMD distance of pairs the
    matcher fits and checks zero misses against all-pairs StructureMatcher on a sample.
    """
    return np.abs(stored - query[None, :]).max(axis=1) <= tol


def sigma(cos_eigs: np.ndarray, ltol: float, angle_tol: float) -> np.ndarray:
    """Lower factor σ of the module docstring for stored cells with these cosine eigenvalues."""
    delta = 2 * math.sin(math.radians(angle_tol) / 2)
    lo = np.clip(cos_eigs[..., 0] - 2 * delta, 0.0, None)
    return np.sqrt(lo / ((1 + ltol) ** 2 * cos_eigs[..., 1]))


def may_match(
    query_minima: np.ndarray,
    stored_minima: np.ndarray,
    stored_lengths: np.ndarray,
    stored_sigma: np.ndarray,
    ltol: float,
) -> np.ndarray:
    """Mask of stored rows the query may fit (False only where the matcher cannot).

    Parameters
    ----------
    query_minima
        ``(3,)`` normalised successive minima of the query.
    stored_minima, stored_lengths
        ``(n, 3)`` of the stored rows (same-composition, same-site-count bucket).
    stored_sigma
        ``(n,)`` from :func:`sigma`.
    ltol
        The matcher's length tolerance.
    """
    upper = (1 + ltol) * stored_lengths * (1 + _SLACK)
    lower = stored_sigma[:, None] * stored_minima * (1 - _SLACK)
    q = query_minima[None, :]
    return np.all((q <= upper) & (q >= lower), axis=1)
