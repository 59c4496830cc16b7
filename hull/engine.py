"""Vectorised convex hull of one chemical system, built once and reused for many candidates.

``ChemsysHull`` reproduces pymatgen's ``PhaseDiagram`` construction step for step (same
coordinates, same extra point, same ``get_facets`` qhull call, same facet filter, same
barycentric ``Simplex`` maths and tolerances) but evaluates a whole batch of compositions at
once with numpy instead of one ``Simplex.in_simplex`` loop per candidate. The E_d it gives
equals ``PhaseDiagram.get_decomp_and_e_above_hull(entry, allow_negative=True)`` for an entry
that is not part of the diagram (tests check 1e-6 eV/atom; in practice ~1e-12).

All energies are eV/atom.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull

__all__ = [
    "FORMATION_ENERGY_TOL",
    "NUMERICAL_TOL",
    "ChemsysHull",
    "assign_hosts",
    "build_chemsys_hull",
]

#: pymatgen ``PhaseDiagram.numerical_tol`` (a test keeps these in step with pymatgen).
NUMERICAL_TOL = 1e-8
#: pymatgen ``_get_facet_and_simplex`` tests ``in_simplex(coord, numerical_tol / 10)``.
_IN_SIMPLEX_TOL = NUMERICAL_TOL / 10
#: pymatgen drops decomposition amounts at or below this value.
_AMOUNT_TOL = NUMERICAL_TOL
#: pymatgen ``PhaseDiagram.formation_energy_tol``: only entries below it can be hull points.
FORMATION_ENERGY_TOL = 1e-11
#: Candidates x facets x elements floats per evaluation chunk (bounds memory to ~32 MB).
_CHUNK_FLOATS = 4_000_000


@dataclass(frozen=True)
class ChemsysHull:
    """Lower convex hull of the reference entries of one chemical system.

    Attributes
    ----------
    elements : tuple of str
        Sorted element symbols; column order of every fraction array.
    point_rows : np.ndarray
        For each qhull input point, the row index of its entry in the owning reference table.
    point_energies : np.ndarray
        Energy per atom (eV/atom) of each qhull input point.
    facets : np.ndarray
        (F, k) indices into the qhull points of the lower-hull facets, in pymatgen's order.
    aug_inv : np.ndarray
        (F, k, k) inverse augmented simplex matrices (pymatgen ``Simplex._aug_inv``).
    """

    elements: tuple[str, ...]
    point_rows: np.ndarray
    point_energies: np.ndarray
    facets: np.ndarray
    aug_inv: np.ndarray

    @property
    def dim(self) -> int:
        """Number of elements."""
        return len(self.elements)

    def hull_energies(self, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hull energy at each composition, with the facet and barycentric amounts behind it.

        Parameters
        ----------
        fractions : np.ndarray
            (C, k) atomic fractions in ``elements`` order (rows sum to 1).

        Returns
        -------
        e_hull : np.ndarray
            (C,) hull energy per atom (eV/atom), pymatgen's
            ``get_decomp_and_hull_energy_per_atom`` value.
        facet : np.ndarray
            (C,) index of the first facet (pymatgen order) containing the composition.
        amounts : np.ndarray
            (C, k) decomposition amounts (atom fractions) on that facet's vertices, with
            amounts at or below pymatgen's ``numerical_tol`` set to zero as pymatgen drops them.
        """
        fractions = np.atleast_2d(np.asarray(fractions, dtype=float))
        n, k = fractions.shape
        if k != self.dim:
            raise ValueError(f"expected {self.dim} fraction columns {self.elements}, got {k}")
        e_hull = np.empty(n)
        facet_idx = np.empty(n, dtype=np.int64)
        amounts = np.empty((n, k))
        # pymatgen coordinates drop the first element; the augmented point appends a 1.
        aug = np.concatenate([fractions[:, 1:], np.ones((n, 1))], axis=1)
        n_facets = len(self.facets)
        step = max(1, _CHUNK_FLOATS // max(1, n_facets * k))
        point_e = self.point_energies[self.facets]  # (F, k)
        for start in range(0, n, step):
            sl = slice(start, start + step)
            bary = np.einsum("ck,fkj->cfj", aug[sl], self.aug_inv)  # (c, F, k)
            inside = (bary >= -_IN_SIMPLEX_TOL).all(axis=2)
            if not inside.any(axis=1).all():
                bad = int(np.flatnonzero(~inside.any(axis=1))[0]) + start
                raise RuntimeError(
                    f"No facet found for fractions {fractions[bad]} in {self.elements}"
                )
            first = inside.argmax(axis=1)  # pymatgen takes the first facet that contains it
            amt = bary[np.arange(len(first)), first]
            amt = np.where(np.abs(amt) > _AMOUNT_TOL, amt, 0.0)
            facet_idx[sl] = first
            amounts[sl] = amt
            e_hull[sl] = (amt * point_e[first]).sum(axis=1)
        return e_hull, facet_idx, amounts


def build_chemsys_hull(
    elements: tuple[str, ...],
    fractions: np.ndarray,
    energies: np.ndarray,
    rows: np.ndarray,
) -> ChemsysHull:
    """Build the hull of one chemical system the way ``PhaseDiagram._compute`` does.

    Parameters
    ----------
    elements : tuple of str
        Sorted element symbols of the system.
    fractions : np.ndarray
        (m, k) atomic fractions of the candidate hull entries (one row per reduced composition,
        lowest energy only; entries with formation energy >= 0 already removed except the
        elemental references, which must all be present).
    energies : np.ndarray
        (m,) energies per atom (eV/atom).
    rows : np.ndarray
        (m,) row indices of these entries in the caller's table.

    Returns
    -------
    ChemsysHull
    """
    dim = len(elements)
    fractions = np.asarray(fractions, dtype=float).reshape(len(energies), dim)
    energies = np.asarray(energies, dtype=float)
    qhull_data = np.concatenate([fractions[:, 1:], energies[:, None]], axis=1)
    if dim == 1:
        best = int(np.argmin(energies))
        return ChemsysHull(
            elements=elements,
            point_rows=np.asarray(rows)[[best]],
            point_energies=energies[[best]],
            facets=np.zeros((1, 1), dtype=np.int64),
            aug_inv=np.ones((1, 1, 1)),
        )
    # Same extra point as pymatgen: it sits above everything and closes the upper hull.
    extra_point = np.zeros(dim) + 1 / dim
    extra_point[-1] = np.max(qhull_data) + 1
    qhull_data = np.concatenate([qhull_data, [extra_point]], axis=0)
    # pymatgen.analysis.phase_diagram.get_facets: the same qhull call and options.
    facets = np.asarray(ConvexHull(qhull_data, qhull_options="Qt i").simplices, dtype=np.int64)
    facets = facets[(facets != len(qhull_data) - 1).all(axis=1)]
    # Simplex._aug: vertex coordinates with the energy column replaced by ones; pymatgen
    # drops facets whose matrix is singular (vertical facets of the lower hull).
    aug = qhull_data[facets]
    aug[:, :, -1] = 1.0
    keep = np.abs(np.linalg.det(aug)) > 1e-14
    facets, aug = facets[keep], aug[keep]
    return ChemsysHull(
        elements=elements,
        point_rows=np.asarray(rows),
        point_energies=energies,
        facets=facets,
        aug_inv=np.linalg.inv(aug),
    )


def assign_hosts(
    groups: Iterable[tuple[str, ...]],
) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Map each chemical system of a batch to the smallest batch system that contains it.

    The hull restricted to a face of the composition simplex is the hull of that face's
    entries, so a candidate of Li-O is scored exactly by the Li-Fe-O hull when that one is
    built anyway: one hull build serves every subsystem present in the batch.
    """
    hosts: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    by_element: dict[str, set[tuple[str, ...]]] = {}
    for system in sorted(groups, key=len, reverse=True):
        supersets = set.intersection(*(by_element.get(el, set()) for el in system))
        if supersets:
            host = min(supersets, key=lambda s: (len(s), s))
            hosts[host].append(system)
            continue
        hosts[system] = [system]
        for el in system:
            by_element.setdefault(el, set()).add(system)
    return hosts
