"""Candidate side of ``ReferenceHull.score``: parse rows, then score them in one batch.

``parse_candidates`` turns input rows into parsed candidates (or failed ``HullScore`` rows
with their reason); ``score_candidates`` evaluates parsed candidates against their host
hulls — all hulls of one dimension in one vectorised ``evaluate_hulls`` call — and builds
the ``HullScore`` records. No pymatgen object is created on this path.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from genflow.core.chem import CompositionError, parse_composition, reduced_formula
from genflow.hull.batch import dense_fractions, evaluate_hulls, formation_energies
from genflow.hull.engine import ChemsysHull
from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from genflow.hull.records import HullScore

__all__ = [
    "Parsed",
    "candidate_formation_energies",
    "parse_candidates",
    "score_candidates",
]


class Parsed(NamedTuple):
    """One scorable input row."""

    row: int
    pairs: tuple[tuple[str, float], ...]
    energy: float
    formula: str
    system: tuple[str, ...]


def parse_candidates(
    compositions: Sequence[Any],
    energies_per_atom: Sequence[Any],
    elements: Container[str],
    hull_name: str,
) -> tuple[list[HullScore | None], list[Parsed]]:
    """Parse input rows; rows that cannot be scored get a failed ``HullScore`` instead.

    Returns
    -------
    out : list
        Per input row, a failed ``HullScore`` (malformed composition, non-finite energy,
        element absent from the hull) or None (to be scored).
    parsed : list of Parsed
        The scorable rows, in input order.
    """
    out: list[HullScore | None] = [None] * len(compositions)
    parsed: list[Parsed] = []
    for i, (comp, energy) in enumerate(zip(compositions, energies_per_atom, strict=True)):
        try:
            pairs = parse_composition(comp)
        except CompositionError as exc:
            out[i] = HullScore.failed(str(exc))
            continue
        formula = reduced_formula(pairs)
        try:
            e = float(energy)
        except (TypeError, ValueError):
            e = math.nan
        if not math.isfinite(e):
            out[i] = HullScore.failed(f"non-finite energy {energy!r} for {formula}", formula)
            continue
        system = tuple(el for el, _ in pairs)
        missing = [el for el in system if el not in elements]
        if missing:
            msg = f"element {', '.join(missing)} absent from hull {hull_name!r}"
            out[i] = HullScore.failed(msg, formula)
            continue
        parsed.append(Parsed(i, pairs, e, formula, system))
    return out, parsed


def score_candidates(
    cands: Sequence[Parsed],
    hull_of: Mapping[tuple[str, ...], tuple[str, ...]],
    hulls: Mapping[tuple[str, ...], ChemsysHull],
    *,
    sym_idx: Mapping[str, int],
    mu: np.ndarray,
    formula_of: Callable[[int], str],
    hull_name: str,
    extra: Sequence[dict[str, Any]] | None = None,
) -> list[HullScore]:
    """E_d, E_f and decomposition of candidates whose host hulls are built.

    Parameters
    ----------
    cands : sequence of Parsed
        Candidates to score.
    hull_of : mapping
        Candidate chemical system → system of the hull it is scored on (itself or a superset).
    hulls : mapping
        Hull system → ``ChemsysHull``.
    sym_idx, mu : mapping, np.ndarray
        Global symbol index and elemental reference energy per symbol index (eV/atom).
    formula_of : callable
        Reduced formula of a reference-table row (decomposition keys).
    hull_name : str
        For error messages.
    extra : sequence of dict, optional
        More ``HullScore`` fields per candidate (coverage), set on every returned score.

    Returns
    -------
    list of HullScore
        One per candidate, in order (E_d and E_f as in ``ReferenceHull.score``).
    """
    if not cands:
        return []
    n = len(cands)
    used = sorted({hull_of[c.system] for c in cands})
    index = {system: h for h, system in enumerate(used)}
    host = np.fromiter((index[hull_of[c.system]] for c in cands), dtype=np.int64, count=n)
    owner, symbol, amount = _entries(cands, sym_idx)
    used_symbols = [np.fromiter((sym_idx[el] for el in s), dtype=np.int64) for s in used]
    width = max(len(s) for s in used)
    fractions = dense_fractions(owner, symbol, amount, used_symbols, host, n, width)
    energies = np.fromiter((c.energy for c in cands), dtype=float, count=n)
    e_form = _formation_energies(energies, owner, symbol, amount, mu)
    e_hull = np.full(n, np.nan)
    rows = np.full((n, width), -1, dtype=np.int64)
    amounts = np.zeros((n, width))
    used_dim = np.fromiter((len(s) for s in used), dtype=np.int64, count=len(used))
    for k in np.unique(used_dim).tolist():
        sel = np.flatnonzero(used_dim[host] == k)
        of_k = np.flatnonzero(used_dim == k)
        remap = np.full(len(used), -1, dtype=np.int64)
        remap[of_k] = np.arange(len(of_k))
        e, r, a, _ = evaluate_hulls(
            [hulls[used[h]] for h in of_k.tolist()], remap[host[sel]], fractions[sel, :k]
        )
        e_hull[sel], rows[sel, :k], amounts[sel, :k] = e, r, a
    names: dict[int, str] = {}
    scores = []
    for c, more, d, ef, r_row, a_row in zip(
        cands,
        extra if extra is not None else itertools.repeat({}, n),
        (energies - e_hull).tolist(),
        e_form.tolist(),
        rows.tolist(),
        amounts.tolist(),
        strict=True,
    ):
        if not math.isfinite(d):
            where = "-".join(hull_of[c.system])
            msg = f"hull {hull_name!r} of {where} could not be evaluated: no facet contains"
            failed = HullScore.failed(f"{msg} {c.formula}", c.formula)
            scores.append(dataclasses.replace(failed, **more) if more else failed)
            continue
        decomposition = {}
        for row, amt in zip(r_row, a_row, strict=True):
            if amt != 0.0:
                name = names.get(row)
                if name is None:
                    name = names[row] = formula_of(row)
                decomposition[name] = amt
        scores.append(
            HullScore(
                formula=c.formula,
                e_d=d,
                e_form=ef,
                decomposition=decomposition,
                is_stable=d < STABLE_THRESHOLD,
                is_metastable=d < METASTABLE_THRESHOLD,
                **more,
            )
        )
    return scores


def candidate_formation_energies(
    cands: Sequence[Parsed], *, sym_idx: Mapping[str, int], mu: np.ndarray
) -> np.ndarray:
    """E_f (eV/atom) of parsed candidates, as ``score_candidates`` gives it, without hulls."""
    owner, symbol, amount = _entries(cands, sym_idx)
    energies = np.fromiter((c.energy for c in cands), dtype=float, count=len(cands))
    return _formation_energies(energies, owner, symbol, amount, mu)


def _entries(
    cands: Sequence[Parsed], sym_idx: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse (candidate, global symbol index, amount) entries of the candidates' compositions."""
    lens = np.fromiter((len(c.pairs) for c in cands), dtype=np.int64, count=len(cands))
    owner = np.repeat(np.arange(len(cands)), lens)
    symbol = np.fromiter((sym_idx[el] for c in cands for el, _ in c.pairs), dtype=np.int64)
    amount = np.fromiter((a for c in cands for _, a in c.pairs), dtype=float)
    return owner, symbol, amount


def _formation_energies(
    energies: np.ndarray, owner: np.ndarray, symbol: np.ndarray, amount: np.ndarray, mu: np.ndarray
) -> np.ndarray:
    totals = np.bincount(owner, weights=amount, minlength=len(energies))
    return formation_energies(energies, owner, amount / totals[owner], mu[symbol])
