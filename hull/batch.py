"""Vectorised helpers that work across many chemical systems at once.

Scoring a batch in which every candidate has its own chemical system (the worst case: no
hull is reused) used to cost a few dozen small numpy calls per system. These helpers do the
same work for all systems in a handful of calls:

- ``dense_fractions``: atomic fractions of sparse (row, element, amount) data laid out in
  each row's own system column order (the candidates' or the hull points');
- ``evaluate_hulls``: the hull energy, facet and decomposition of every candidate against
  its own system's ``ChemsysHull``, with pymatgen's ``Simplex`` maths (first containing
  facet, pymatgen's in-simplex and amount tolerances);
- ``formation_energies``: E_f = E − Σ_i c_i μ_i of many rows from the same sparse data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genflow.hull.engine import AMOUNT_TOL, IN_SIMPLEX_TOL, ChemsysHull

__all__ = ["dense_fractions", "dense_fractions_flat", "evaluate_hulls", "formation_energies"]

#: Candidate-facet pairs x k x k floats per evaluation chunk (bounds memory to ~32 MB).
_CHUNK_FLOATS = 4_000_000


def dense_fractions(
    owner: np.ndarray,
    symbol: np.ndarray,
    amount: np.ndarray,
    system_symbols: Sequence[np.ndarray],
    system_of_owner: np.ndarray,
    n_owners: int,
    width: int,
) -> np.ndarray:
    """Atomic fractions of many owners, each in its system's column order.

    Parameters
    ----------
    owner : np.ndarray
        (E,) owner index (candidate or hull point) of each (element, amount) entry.
    symbol : np.ndarray
        (E,) global symbol index of each entry (indices sorted like the symbols).
    amount : np.ndarray
        (E,) amount of each entry (any scale; normalised per owner here).
    system_symbols : sequence of np.ndarray
        Sorted global symbol indices of each system (its column order).
    system_of_owner : np.ndarray
        (n_owners,) system index of each owner; every entry's symbol must be in it.
    n_owners, width : int
        Number of owners and output columns (at least the largest system size).

    Returns
    -------
    np.ndarray
        (n_owners, width) fractions; columns beyond an owner's system size are zero.
    """
    sizes = np.fromiter((len(s) for s in system_symbols), dtype=np.int64)
    parts = [np.asarray(s, dtype=np.int64) for s in system_symbols]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return dense_fractions_flat(
        owner, symbol, amount, flat, sizes, system_of_owner, n_owners, width
    )


def dense_fractions_flat(
    owner: np.ndarray,
    symbol: np.ndarray,
    amount: np.ndarray,
    flat_symbols: np.ndarray,
    sizes: np.ndarray,
    system_of_owner: np.ndarray,
    n_owners: int,
    width: int,
) -> np.ndarray:
    """``dense_fractions`` with the systems' symbols given as one concatenated array.

    ``flat_symbols`` holds every system's sorted global symbol indices back to back and
    ``sizes`` the number per system (no per-system array or Python loop).
    """
    n_sym = int(max(flat_symbols.max(initial=0), symbol.max(initial=0))) + 1
    starts = np.cumsum(sizes) - sizes
    # One sorted key per (system, symbol); an entry's column is its key's offset in its system.
    keys = np.repeat(np.arange(len(sizes)), sizes) * n_sym + flat_symbols
    system = system_of_owner[owner]
    col = np.searchsorted(keys, system * n_sym + symbol) - starts[system]
    totals = np.bincount(owner, weights=amount, minlength=n_owners)
    out = np.zeros((n_owners, width))
    out[owner, col] = amount / totals[owner]
    return out


def formation_energies(
    energies: np.ndarray, owner: np.ndarray, fraction: np.ndarray, mu: np.ndarray
) -> np.ndarray:
    r"""Formation energy per atom of many rows against elemental reference energies.

    .. math:: E_f(x) = E(x) - \sum_i c_i(x)\, \mu_i                              (E_f)

    with c_i(x) the atomic fraction of element i in x and μ_i the energy per atom of the
    reference's lowest elemental entry of i (pymatgen's ``get_form_energy_per_atom``).

    Parameters
    ----------
    energies : np.ndarray
        (n,) energy per atom E(x) of each row (eV/atom).
    owner : np.ndarray
        (E,) row index of each (element, fraction) entry.
    fraction : np.ndarray
        (E,) atomic fraction c_i of the entry's element in its row.
    mu : np.ndarray
        (E,) elemental reference energy μ_i of the entry's element (eV/atom); NaN (no
        reference) makes that row's E_f NaN.

    Returns
    -------
    np.ndarray
        (n,) E_f in eV/atom.
    """
    energies = np.asarray(energies, dtype=float)
    return energies - np.bincount(owner, weights=fraction * mu, minlength=len(energies))


def evaluate_hulls(
    hulls: Sequence[ChemsysHull], host: np.ndarray, fractions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hull energy and decomposition of each candidate against its host hull.

    Parameters
    ----------
    hulls : sequence of ChemsysHull
        Hulls of one dimension k.
    host : np.ndarray
        (C,) index into ``hulls`` of each candidate's hull.
    fractions : np.ndarray
        (C, k) atomic fractions in the host hull's element order.

    Returns
    -------
    e_hull : np.ndarray
        (C,) hull energy per atom (eV/atom); NaN where no facet contains the composition.
    vertex_rows : np.ndarray
        (C, k) reference-table rows of the containing facet's vertices (-1 where none).
    amounts : np.ndarray
        (C, k) decomposition amounts on those vertices, amounts <= ``AMOUNT_TOL`` zeroed.
    found : np.ndarray
        (C,) True where a containing facet was found.
    """
    n, k = fractions.shape
    n_facets = np.fromiter((len(h.facets) for h in hulls), dtype=np.int64, count=len(hulls))
    offset = np.concatenate([[0], np.cumsum(n_facets)[:-1]])
    inv = np.concatenate([h.aug_inv for h in hulls])  # (F_total, k, k)
    v_rows = np.concatenate([h.vertex_rows for h in hulls])  # (F_total, k)
    v_energy = np.concatenate([h.vertex_energies for h in hulls])
    # pymatgen coordinates drop the first element; the augmented point appends a 1.
    aug = np.concatenate([fractions[:, 1:], np.ones((n, 1))], axis=1)
    per = n_facets[host]
    ends = np.cumsum(per)
    facet = np.full(n, -1, dtype=np.int64)
    amounts = np.zeros((n, k))
    max_pairs = max(1, _CHUNK_FLOATS // (k * k))
    start = 0
    while start < n:
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + max_pairs, side="right")))
        count = per[start:stop]
        # One (candidate, facet) pair per facet of each candidate's own hull, in facet order.
        cand = np.repeat(np.arange(stop - start), count)
        first_pair = np.cumsum(count) - count
        pair_facet = np.repeat(offset[host[start:stop]] - first_pair, count) + np.arange(
            int(count.sum())
        )
        bary = np.einsum("pk,pkj->pj", aug[start:stop][cand], inv[pair_facet])
        hit = np.flatnonzero((bary >= -IN_SIMPLEX_TOL).all(axis=1))
        # pymatgen takes the first facet that contains the point: first hit per candidate.
        new = np.ones(len(hit), dtype=bool)
        new[1:] = cand[hit][1:] != cand[hit][:-1]
        pick = hit[new]
        idx = start + cand[pick]
        facet[idx] = pair_facet[pick]
        amt = bary[pick]
        amounts[idx] = np.where(np.abs(amt) > AMOUNT_TOL, amt, 0.0)
        start = stop
    found = facet >= 0
    e_hull = np.full(n, np.nan)
    e_hull[found] = (amounts[found] * v_energy[facet[found]]).sum(axis=1)
    vertex_rows = np.where(found[:, None], v_rows[np.maximum(facet, 0)], -1)
    return e_hull, vertex_rows, amounts, found
