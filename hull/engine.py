"""Vectorised convex hulls of chemical systems, built once (many at a time) and reused.

``ChemsysHull`` reproduces pymatgen's ``PhaseDiagram`` construction step for step (same
coordinates, same extra point, same ``get_facets`` qhull call, same facet filter, same
barycentric ``Simplex`` maths and tolerances); ``genflow.hull.batch.evaluate_hulls`` then
evaluates a whole batch of compositions against many such hulls at once with numpy instead of
one ``Simplex.in_simplex`` loop per candidate. The E_d this gives
equals ``PhaseDiagram.get_decomp_and_e_above_hull(entry, allow_negative=True)`` for an entry
that is not part of the diagram (tests check 1e-6 eV/atom; in practice ~1e-12).

Small binary and ternary systems — the bulk of a campaign's distinct systems — skip qhull,
whose fixed cost (~0.1 ms a call) dominates there: every k-subset of the points whose plane
has no point below it is a lower facet (``_enumerate``), and ``build_chemsys_hulls`` does
that for all same-sized systems of a batch in one numpy pass. For points in general position
this is exactly the facet set qhull yields (a test compares both on every MP-20 system); when
the facets found do not tile the composition simplex exactly once (coplanar points, numerical
trouble) the system goes to qhull, so degenerate hulls keep pymatgen's triangulation.

All energies are eV/atom.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.spatial import ConvexHull

__all__ = [
    "FORMATION_ENERGY_TOL",
    "NUMERICAL_TOL",
    "ChemsysHull",
    "HullSpec",
    "assign_hosts",
    "build_chemsys_hulls",
]

#: pymatgen ``PhaseDiagram.numerical_tol`` (a test keeps these in step with pymatgen).
NUMERICAL_TOL = 1e-8
#: pymatgen ``_get_facet_and_simplex`` tests ``in_simplex(coord, numerical_tol / 10)``.
IN_SIMPLEX_TOL = NUMERICAL_TOL / 10
#: pymatgen drops decomposition amounts at or below this value.
AMOUNT_TOL = NUMERICAL_TOL
#: pymatgen ``PhaseDiagram.formation_energy_tol``: only entries below it can be hull points.
FORMATION_ENERGY_TOL = 1e-11
#: pymatgen keeps a facet only if |det| of its augmented vertex matrix exceeds this.
_DET_TOL = 1e-14
#: Candidates x facets x elements floats per evaluation chunk (bounds memory to ~32 MB).
_CHUNK_FLOATS = 4_000_000
#: Enumerate facets instead of calling qhull when C(points, k) * points is at most this
#: (ternaries up to 17 points, binaries up to 39); batched enumeration costs ~10 ns per
#: subset and point, a qhull call ~0.1-0.2 ms, so they cross near 10^4.
_ENUM_BUDGET = 10_000
#: A point may sit this far (eV/atom) below an enumerated facet's plane and still count as on
#: it: far above float noise (~1e-14), far below anything E_d resolves (1e-6).
_ENUM_PLANE_TOL = 1e-9

#: (elements, fractions (m, k), energies (m,), reference rows (m,)) of one system's points.
HullSpec = tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ChemsysHull:
    """Lower convex hull of the reference entries of one chemical system.

    Evaluated (for many candidates and hulls at once) by ``genflow.hull.batch.evaluate_hulls``.

    Attributes
    ----------
    elements : tuple of str
        Sorted element symbols; column order of every fraction array.
    point_rows : np.ndarray
        For each qhull input point, the row index of its entry in the owning reference table.
    point_energies : np.ndarray
        Energy per atom (eV/atom) of each qhull input point.
    facets : np.ndarray
        (F, k) indices into the points of the lower-hull facets.
    aug_inv : np.ndarray
        (F, k, k) inverse augmented simplex matrices (pymatgen ``Simplex._aug_inv``).
    vertex_rows, vertex_energies : np.ndarray
        (F, k) reference rows and energies of each facet's vertices (``point_rows[facets]``,
        ``point_energies[facets]``), kept so that evaluating thousands of hulls at once only
        concatenates arrays.
    """

    elements: tuple[str, ...]
    point_rows: np.ndarray
    point_energies: np.ndarray
    facets: np.ndarray
    aug_inv: np.ndarray
    vertex_rows: np.ndarray = field(init=False, repr=False, compare=False)
    vertex_energies: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vertex_rows", self.point_rows[self.facets])
        object.__setattr__(self, "vertex_energies", self.point_energies[self.facets])


def build_chemsys_hulls(specs: Sequence[HullSpec]) -> list[ChemsysHull | Exception]:
    """Build many systems' hulls the way ``PhaseDiagram._compute`` does: small ones
    enumerated together, the rest with qhull.

    Parameters
    ----------
    specs : sequence of HullSpec
        ``(elements, fractions, energies, rows)`` per system: sorted element symbols, (m, k)
        atomic fractions of the candidate hull entries (one row per reduced composition,
        lowest energy only; entries with formation energy >= 0 already removed except the
        elemental references, which must all be present), (m,) energies per atom (eV/atom)
        and (m,) row indices of these entries in the caller's table.

    Returns
    -------
    list
        A ``ChemsysHull`` per spec, or the exception that system raised (a degenerate
        system fails alone; every other one is built).
    """
    facets: list[np.ndarray | Exception | None] = [None] * len(specs)
    data = []
    batches: dict[tuple[int, int], list[int]] = {}
    for i, (elements, fractions, energies, _) in enumerate(specs):
        energies = np.asarray(energies, dtype=float)
        dim, m = len(elements), len(energies)
        fractions = np.asarray(fractions, dtype=float).reshape(m, dim)
        # pymatgen coordinates: fractions without the first element, then the energy.
        data.append(np.concatenate([fractions[:, 1:], energies[:, None]], axis=1))
        if dim == 1:
            facets[i] = np.asarray([[int(np.argmin(energies))]], dtype=np.int64)
        elif dim in (2, 3) and math.comb(m, dim) * m <= _ENUM_BUDGET:
            batches.setdefault((dim, m), []).append(i)
    for (dim, m), members in batches.items():
        step = max(1, _CHUNK_FLOATS // (math.comb(m, dim) * m * dim))
        for start in range(0, len(members), step):
            chunk = members[start : start + step]
            found = _enumerate(np.stack([data[i] for i in chunk]), dim)
            for i, f in zip(chunk, found, strict=True):
                facets[i] = f  # None (not tiled): qhull below
    for i in range(len(specs)):
        if facets[i] is None:
            try:
                facets[i] = _qhull_lower_facets(data[i])
            except (RuntimeError, ValueError) as exc:  # QhullError is a RuntimeError
                facets[i] = exc
    return _assemble(specs, data, facets)


def _assemble(
    specs: Sequence[HullSpec],
    data: list[np.ndarray],
    facets: list[np.ndarray | Exception | None],
) -> list[ChemsysHull | Exception]:
    """``ChemsysHull`` objects from facets, inverting every system's matrices in one call."""
    out: list[ChemsysHull | Exception] = [f for f in facets]  # type: ignore[misc]
    by_dim: dict[int, list[int]] = {}
    for i, f in enumerate(facets):
        if not isinstance(f, Exception):
            by_dim.setdefault(len(specs[i][0]), []).append(i)
    for members in by_dim.values():
        # Simplex._aug: vertex coordinates with the energy column replaced by ones.
        augs = [data[i][facets[i]] for i in members]
        aug = np.concatenate(augs)
        aug[:, :, -1] = 1.0
        try:
            inverses = np.split(np.linalg.inv(aug), np.cumsum([len(a) for a in augs])[:-1])
        except np.linalg.LinAlgError:  # one exactly singular facet: find whose, per system
            inverses = [_inv_or_error(data[i][facets[i]]) for i in members]
        for i, inv in zip(members, inverses, strict=True):
            elements, _, energies, rows = specs[i]
            f = facets[i]
            if len(elements) == 1:  # one point: the lowest elemental entry
                rows, energies, f = np.asarray(rows)[f[0]], np.asarray(energies)[f[0]], f * 0
            out[i] = (
                inv
                if isinstance(inv, Exception)
                else ChemsysHull(
                    elements=elements,
                    point_rows=np.asarray(rows),
                    point_energies=np.asarray(energies, dtype=float),
                    facets=f,  # type: ignore[arg-type]
                    aug_inv=inv,
                )
            )
    return out


def _inv_or_error(aug: np.ndarray) -> np.ndarray | Exception:
    """Inverse augmented matrices of one system's facets, or the error if one is singular."""
    aug = aug.copy()
    aug[:, :, -1] = 1.0
    try:
        return np.linalg.inv(aug)
    except np.linalg.LinAlgError as exc:
        return exc


def _qhull_lower_facets(qhull_data: np.ndarray) -> np.ndarray:
    """Lower-hull facets exactly as ``PhaseDiagram._compute`` finds them."""
    dim = qhull_data.shape[1]
    # Same extra point as pymatgen: it sits above everything and closes the upper hull.
    extra_point = np.zeros(dim) + 1 / dim
    extra_point[-1] = np.max(qhull_data) + 1
    points = np.concatenate([qhull_data, [extra_point]], axis=0)
    # pymatgen.analysis.phase_diagram.get_facets: the same qhull call and options.
    facets = np.asarray(ConvexHull(points, qhull_options="Qt i").simplices, dtype=np.int64)
    facets = facets[(facets != len(points) - 1).all(axis=1)]
    # pymatgen drops facets whose augmented matrix is singular (vertical facets).
    aug = points[facets]
    aug[:, :, -1] = 1.0
    return facets[np.abs(np.linalg.det(aug)) > _DET_TOL]


@lru_cache(maxsize=256)
def _subsets(n: int, k: int) -> np.ndarray:
    """All k-subsets of range(n) as a (C(n, k), k) index array (lexicographic)."""
    flat = itertools.chain.from_iterable(itertools.combinations(range(n), k))
    return np.fromiter(flat, dtype=np.int64).reshape(-1, k)


def _enumerate(q: np.ndarray, dim: int) -> list[np.ndarray | None]:
    """Lower-hull facets of B same-sized binary or ternary systems by testing every subset.

    Parameters
    ----------
    q : np.ndarray
        (B, m, k) pymatgen coordinates ``[x_2, ..., x_k, E]`` per system (k = dim = 2 or 3).
    dim : int
        Number of elements.

    Returns
    -------
    list
        Per system, the (F, k) facets whose plane no point lies below (by more than
        ``_ENUM_PLANE_TOL``) and that pass pymatgen's determinant filter; None when they do
        not tile the composition simplex exactly once (their |det| must sum to 1, the
        simplex volume times (k-1)!): such systems go to qhull.
    """
    n_sys, m, _ = q.shape
    subsets = _subsets(m, dim)
    g = q[:, subsets]  # (B, S, k, k): the k points of every subset
    a = g[:, :, 0]
    u = g[:, :, 1] - a
    if dim == 2:
        normal = np.stack([-u[..., 1], u[..., 0]], axis=-1)
    else:
        v = g[:, :, 2] - a
        normal = np.stack(
            [
                u[..., 1] * v[..., 2] - u[..., 2] * v[..., 1],
                u[..., 2] * v[..., 0] - u[..., 0] * v[..., 2],
                u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0],
            ],
            axis=-1,
        )
    # The energy component of the normal is ± det of the augmented matrix (pymatgen's filter).
    n_e = normal[..., -1]
    size = np.abs(n_e)
    valid = size > _DET_TOL
    normal /= np.where(valid, n_e, 1.0)[..., None]  # n_E = 1: heights come out in eV/atom
    # Height of every point above every subset's plane: (P - A) . n.
    height = np.matmul(normal, q.transpose(0, 2, 1))  # (B, S, m)
    height -= (a * normal).sum(axis=-1)[..., None]
    lower = (height >= -_ENUM_PLANE_TOL).all(axis=-1) & valid
    tiled = np.abs(np.where(lower, size, 0.0).sum(axis=1) - 1.0) < 1e-11
    return [subsets[lower[b]] if tiled[b] else None for b in range(n_sys)]


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
        sets = sorted((by_element.get(el, set()) for el in system), key=len)
        supersets = sets[0]
        for other in sets[1:]:  # smallest first: each step scans the smaller operand
            if not supersets:
                break
            supersets = supersets & other
        if supersets:
            host = min(supersets, key=lambda s: (len(s), s))
            hosts[host].append(system)
            continue
        hosts[system] = [system]
        for el in system:
            by_element.setdefault(el, set()).add(system)
    return hosts
