"""Candidate side of ``ReferenceHull.score``, as columns: parse once, group, evaluate in bulk.

``parse_batch`` turns input rows into flat arrays — one (candidate, element, amount) entry per
element, the rows that cannot be scored with their reason — and groups candidates by chemical
system with numpy: each candidate's element set becomes a bitmask (one 64-bit word per 64
symbols of the hull) and ``np.unique`` on the bitmasks numbers the systems, so Python touches
each distinct system once, not each row. ``evaluate_batch`` evaluates every candidate against
its host hull (all hulls of one dimension in one ``evaluate_hulls`` call) and returns arrays;
``HullScores`` builds per-row objects only when asked. No pymatgen object is created here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from genflow.core.chem import CompositionError, parse_composition, reduced_formula
from genflow.hull.batch import dense_fractions_flat, evaluate_hulls, formation_energies
from genflow.hull.engine import ChemsysHull

__all__ = ["ParsedBatch", "batch_formation_energies", "evaluate_batch", "parse_batch"]

System = tuple[str, ...]


class ParsedBatch(NamedTuple):
    """Input rows as columns; ``m`` scorable rows, ``E`` (element, amount) entries.

    Attributes
    ----------
    pairs : list
        Per input row, the parsed composition or None (unparsable).
    energies : np.ndarray
        (n,) energies per atom (eV/atom), NaN where not a finite number.
    errors : dict
        Input row → reason it cannot be scored.
    rows : np.ndarray
        (m,) input row of each scorable candidate.
    owner, symbol, amount : np.ndarray
        (E,) candidate (0..m-1), global symbol index and amount of each entry.
    system_of : np.ndarray
        (m,) chemical-system number of each candidate.
    systems : list of tuple
        Sorted element symbols of each system number.
    """

    pairs: list[tuple[tuple[str, float], ...] | None]
    energies: np.ndarray
    errors: dict[int, str]
    rows: np.ndarray
    owner: np.ndarray
    symbol: np.ndarray
    amount: np.ndarray
    system_of: np.ndarray
    systems: list[System]


def parse_batch(
    compositions: Sequence[Any],
    energies_per_atom: Sequence[Any],
    *,
    sym_idx: Mapping[str, int],
    symbols: Sequence[str],
    elements: frozenset[str],
    hull_name: str,
) -> ParsedBatch:
    """Parse, check and group input rows (see ``ParsedBatch``).

    Parameters
    ----------
    compositions, energies_per_atom : sequence
        Input rows (formulas, ``Composition`` or mappings; eV/atom).
    sym_idx, symbols : mapping, sequence
        The hull's global symbol index (alphabetical) and its inverse.
    elements : frozenset of str
        Elements with an elemental reference; a row naming another is an error.
    hull_name : str
        For error messages.
    """
    n = len(compositions)
    errors: dict[int, str] = {}
    try:  # the common case in one C-level map; the per-row loop only when a row is bad
        pairs: list[tuple[tuple[str, float], ...] | None] = list(
            map(parse_composition, compositions)
        )
    except CompositionError:
        pairs = [None] * n
        for i, comp in enumerate(compositions):
            try:
                pairs[i] = parse_composition(comp)
            except CompositionError as exc:
                errors[i] = str(exc)
    energies = _floats(energies_per_atom, n)
    for i in np.flatnonzero(~np.isfinite(energies)).tolist():
        if i not in errors:
            formula = reduced_formula(pairs[i])
            errors[i] = f"non-finite energy {energies_per_atom[i]!r} for {formula}"
    ref_idx = {el: sym_idx[el] for el in elements}
    rows = [i for i in range(n) if i not in errors] if errors else list(range(n))
    good = [pairs[i] for i in rows] if errors else pairs
    lens = np.fromiter(map(len, good), dtype=np.int64, count=len(good))  # type: ignore[arg-type]
    flat = list(itertools.chain.from_iterable(good))  # type: ignore[arg-type]
    els, amts = zip(*flat, strict=True) if flat else ((), ())
    symbol = np.fromiter(
        map(ref_idx.get, els, itertools.repeat(-1)), dtype=np.int64, count=len(els)
    )
    amount = np.fromiter(amts, dtype=float, count=len(amts))
    starts = np.cumsum(lens) - lens
    if len(rows) and (symbol < 0).any():  # elements without an elemental reference
        bad = np.minimum.reduceat(symbol, starts) < 0
        for j in np.flatnonzero(bad).tolist():
            i = rows[j]
            missing = [el for el, _ in pairs[i] if el not in ref_idx]  # type: ignore[union-attr]
            errors[i] = f"element {', '.join(missing)} absent from hull {hull_name!r}"
        keep = np.repeat(~bad, lens)
        symbol, amount = symbol[keep], amount[keep]
        rows = [r for r, b in zip(rows, bad.tolist(), strict=True) if not b]
        lens = lens[~bad]
        starts = np.cumsum(lens) - lens
    owner = np.repeat(np.arange(len(rows)), lens)
    system_of, first = _group_systems(symbol, starts, len(symbols))
    sym_list, start_list, len_list = symbol.tolist(), starts.tolist(), lens.tolist()
    name = symbols.__getitem__
    systems = [
        tuple(map(name, sym_list[start_list[j] : start_list[j] + len_list[j]]))
        for j in first.tolist()
    ]
    return ParsedBatch(
        pairs, energies, errors, np.asarray(rows, dtype=np.int64), owner, symbol, amount,
        system_of, systems,
    )  # fmt: skip


def _floats(values: Sequence[Any], n: int) -> np.ndarray:
    """Values as floats in one numpy call; NaN for those ``float`` rejects."""
    try:
        out = np.asarray(values, dtype=float).reshape(n)
    except (TypeError, ValueError):
        out = np.fromiter((_float_or_nan(v) for v in values), dtype=float, count=n)
    return out


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _group_systems(
    symbol: np.ndarray, starts: np.ndarray, n_symbols: int
) -> tuple[np.ndarray, np.ndarray]:
    """System number of each candidate and the first candidate of each system.

    A candidate's system is the set of its symbol indices, encoded as ``ceil(n_symbols / 64)``
    64-bit masks; ``np.unique`` over the masks numbers the distinct systems.
    """
    if not len(starts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_words = max(1, (n_symbols + 63) // 64)
    bit = np.left_shift(np.uint64(1), (symbol & 63).astype(np.uint64))
    word = symbol >> 6
    masks = np.empty((len(starts), n_words), dtype=np.uint64)
    for w in range(n_words):
        masks[:, w] = np.bitwise_or.reduceat(np.where(word == w, bit, np.uint64(0)), starts)
    if n_words == 1:
        _, first, inverse = np.unique(masks[:, 0], return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(masks, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first


def evaluate_batch(
    batch: ParsedBatch,
    cand: np.ndarray,
    host_of_system: np.ndarray,
    hosts: Sequence[System],
    hulls: Sequence[ChemsysHull],
    sym_idx: Mapping[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hull energy, facet vertex rows and decomposition amounts of candidates ``cand``.

    Parameters
    ----------
    batch : ParsedBatch
        The parsed rows.
    cand : np.ndarray
        (c,) candidates (indices into ``batch.rows``) to evaluate, ascending.
    host_of_system : np.ndarray
        Per system number, the index into ``hosts``/``hulls`` of the hull it is scored on.
    hosts, hulls : sequence
        Host systems (sorted symbols) and their built hulls.
    sym_idx : mapping
        The hull's global symbol index.

    Returns
    -------
    e_hull : np.ndarray
        (c,) hull energy per atom (eV/atom); NaN where no facet contains the composition.
    vertex_rows, amounts : np.ndarray
        (c, w) reference rows of the containing facet's vertices (-1 padded) and amounts.
    """
    n = len(cand)
    width = max((len(s) for s in hosts), default=1)
    e_hull = np.full(n, np.nan)
    rows = np.full((n, width), -1, dtype=np.int64)
    amounts = np.zeros((n, width))
    if not n:
        return e_hull, rows, amounts
    take = np.zeros(len(batch.rows), dtype=bool)
    take[cand] = True
    sel_entry = take[batch.owner]
    remap = np.cumsum(take) - 1
    host = host_of_system[batch.system_of[cand]]
    dim = np.fromiter(map(len, hosts), dtype=np.int64, count=len(hosts))
    flat = itertools.chain.from_iterable(hosts)
    host_symbols = np.fromiter(map(sym_idx.__getitem__, flat), dtype=np.int64, count=dim.sum())
    fractions = dense_fractions_flat(
        remap[batch.owner[sel_entry]],
        batch.symbol[sel_entry],
        batch.amount[sel_entry],
        host_symbols,
        dim,
        host,
        n,
        width,
    )
    for k in np.unique(dim[host]).tolist():
        sel = np.flatnonzero(dim[host] == k)
        of_k = np.flatnonzero(dim == k)
        local = np.full(len(hosts), -1, dtype=np.int64)
        local[of_k] = np.arange(len(of_k))
        e, r, a, _ = evaluate_hulls(
            [hulls[h] for h in of_k.tolist()], local[host[sel]], fractions[sel, :k]
        )
        e_hull[sel], rows[sel, :k], amounts[sel, :k] = e, r, a
    return e_hull, rows, amounts


def batch_formation_energies(batch: ParsedBatch, mu: np.ndarray) -> np.ndarray:
    """(m,) E_f = E − Σ_i c_i μ_i (eV/atom) of the scorable candidates of ``batch``."""
    m = len(batch.rows)
    totals = np.bincount(batch.owner, weights=batch.amount, minlength=m)
    return formation_energies(
        batch.energies[batch.rows],
        batch.owner,
        batch.amount / totals[batch.owner],
        mu[batch.symbol],
    )
