"""Set-level hull metrics of Yang et al. 2023 ("Scalable Diffusion for Materials Generation").

Pure functions in eV/atom, layered as in matbench-discovery: per-row scores come from
``ReferenceHull.score``; these reduce them. A zero denominator gives NaN; a broken invariant
(e.g. more converged than tried) raises ``ValueError``. Failed rows are counted, never dropped
silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from genflow.core.chem import CompositionError, parse_composition, reduced_formula
from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD, HullColumn
from genflow.hull.records import HullScore

__all__ = [
    "MATCHING_NOTE",
    "compare_formation_energies",
    "count_below",
    "delta_formation_energy",
    "formation_energy_reduction_rate",
    "lowest_e_form_per_composition",
    "stratified_convergence_rate",
    "summarize_scores",
]

MATCHING_NOTE = (
    "compositions matched on reduced formula; each set contributes its lowest E_f per "
    "composition (the paper's per-composition comparison)"
)

PerComposition = Mapping[str, float] | Iterable[tuple[Any, float]]


def count_below(e_d: Iterable[float | None], threshold: float) -> int:
    r"""Number of candidates with E_d below a threshold (Eq. 5).

    .. math:: \#\text{stable} = \sum_i \mathbb{1}[E_d(x_i) < 0], \quad
              \#\text{metastable} = \sum_i \mathbb{1}[E_d(x_i) < 0.025\ \text{eV/atom}]   (5)

    Parameters
    ----------
    e_d : iterable of float or None
        Decomposition energies (eV/atom); None/NaN (failed rows) never count.
    threshold : float
        ``STABLE_THRESHOLD`` (0) for # stable, ``METASTABLE_THRESHOLD`` (0.025) for
        # metastable. Strict comparison.
    """
    return sum(1 for e in e_d if e is not None and math.isfinite(e) and e < threshold)


def summarize_scores(scores: Sequence[HullScore]) -> dict[str, Any]:
    """# stable and # metastable (Eq. 5), median E_d and row counts of a scored set.

    Returns
    -------
    dict
        ``n_rows``, ``n_scored``, ``n_failed``, ``n_stable``, ``n_metastable``,
        ``median_e_d`` (eV/atom; NaN when nothing was scored) and ``n_implausible``: scored
        rows outside the physical window, left out of the counts and the median.
    """
    n_ok = sum(s.ok for s in scores)
    e_d = [s.e_d for s in scores if s.ok and not s.implausible]
    return {
        HullColumn.n_rows.value: len(scores),
        HullColumn.n_scored.value: n_ok,
        HullColumn.n_failed.value: len(scores) - n_ok,
        HullColumn.n_stable.value: count_below(e_d, STABLE_THRESHOLD),
        HullColumn.n_metastable.value: count_below(e_d, METASTABLE_THRESHOLD),
        HullColumn.median_e_d.value: float(np.median(e_d)) if e_d else math.nan,
        HullColumn.n_implausible.value: n_ok - len(e_d),
    }


def lowest_e_form_per_composition(pairs: PerComposition) -> dict[str, float]:
    """Reduced formula → lowest finite E_f (eV/atom) of a set.

    Parameters
    ----------
    pairs : mapping or iterable of (composition, e_form)
        Compositions may be formulas, ``Composition`` objects or mappings; rows with an
        unparsable composition or a missing/non-finite E_f are left out.
    """
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    best: dict[str, float] = {}
    for comp, e_form in items:
        if e_form is None or not math.isfinite(float(e_form)):
            continue
        try:
            formula = reduced_formula(parse_composition(comp))
        except CompositionError:
            continue
        if formula not in best or e_form < best[formula]:
            best[formula] = float(e_form)
    return best


def _matched(a: PerComposition, b: PerComposition) -> tuple[np.ndarray, np.ndarray, int, int]:
    best_a, best_b = lowest_e_form_per_composition(a), lowest_e_form_per_composition(b)
    common = sorted(set(best_a) & set(best_b))
    ea = np.asarray([best_a[c] for c in common], dtype=float)
    eb = np.asarray([best_b[c] for c in common], dtype=float)
    return ea, eb, len(best_a) - len(common), len(best_b) - len(common)


def delta_formation_energy(a: PerComposition, b: PerComposition) -> float:
    """ΔE_f(A, B) (Eq. 3, ``_delta_e_form``): mean E_f difference over matched compositions.

    Negative means A reaches lower formation energies.

    Parameters
    ----------
    a, b : mapping or iterable of (composition, e_form)
        E_f in eV/atom.

    Returns
    -------
    float
        eV/atom; NaN when no composition matches.
    """
    return _delta_e_form(*_matched(a, b)[:2])


def formation_energy_reduction_rate(a: PerComposition, b: PerComposition) -> float:
    """E_f reduction rate r(A, B) (Eq. 4, ``_reduction_rate``): fraction of matched
    compositions where A's E_f is lower than B's. NaN when no composition matches."""
    return _reduction_rate(*_matched(a, b)[:2])


def compare_formation_energies(a: PerComposition, b: PerComposition) -> dict[str, Any]:
    """ΔE_f(A, B) (Eq. 3), E_f reduction rate (Eq. 4) and the matching counts, as one dict."""
    ea, eb, only_a, only_b = _matched(a, b)
    return {
        HullColumn.delta_e_form.value: _delta_e_form(ea, eb),
        HullColumn.e_form_reduction_rate.value: _reduction_rate(ea, eb),
        HullColumn.n_matched.value: len(ea),
        HullColumn.n_only_a.value: only_a,
        HullColumn.n_only_b.value: only_b,
        HullColumn.matching.value: MATCHING_NOTE,
    }


def _delta_e_form(ea: np.ndarray, eb: np.ndarray) -> float:
    r"""Mean formation-energy difference over composition-matched pairs (Eq. 3).

    .. math:: \Delta E_f(A, B) = \frac{1}{|C|} \sum_{c \in C} \big(E_f^A(c) - E_f^B(c)\big)  (3)

    where C is the set of reduced formulas present in both A and B and E_f^S(c) is the lowest
    E_f of set S at composition c (``ea``, ``eb``: E_f^A(c), E_f^B(c) over C, in eV/atom).
    NaN when C is empty.
    """
    return float(np.mean(ea - eb)) if len(ea) else math.nan


def _reduction_rate(ea: np.ndarray, eb: np.ndarray) -> float:
    r"""Fraction of matched compositions where A's E_f is lower than B's (Eq. 4).

    .. math:: r(A, B) = \frac{1}{|C|} \sum_{c \in C} \mathbb{1}\big[E_f^A(c) < E_f^B(c)\big]  (4)

    with C, ``ea`` and ``eb`` as in ``_delta_e_form``. NaN when C is empty.
    """
    return float(np.mean(ea < eb)) if len(ea) else math.nan


def stratified_convergence_rate(strata: Iterable[tuple[int, int, float]]) -> float:
    r"""Convergence rate of conditional generation, stratified (Yang et al. 2023, App. 8).

    Each stratum s (e.g. a group of target compositions) reports how many generation attempts
    converged and how many were tried; its converged fraction is weighted by the stratum's
    size N_s so that sampled strata stand for the whole population:

    .. math:: R = \sum_s \frac{N_s}{\sum_{s'} N_{s'}} \frac{n^{conv}_s}{n^{tried}_s}   (App. 8)

    Parameters
    ----------
    strata : iterable of (converged, tried, stratum_size)
        Counts per stratum; ``stratum_size`` is N_s (population size it represents).

    Returns
    -------
    float
        Rate in [0, 1]; NaN if the total size is zero or a weighted stratum has no attempts.

    Raises
    ------
    ValueError
        For negative counts, ``converged > tried`` or a negative stratum size.
    """
    total, acc = 0.0, 0.0
    for converged, tried, size in strata:
        if converged < 0 or tried < 0 or size < 0:
            raise ValueError(f"negative count in stratum {(converged, tried, size)}")
        if converged > tried:
            raise ValueError(f"stratum {(converged, tried, size)}: converged > tried")
        total += size
        if size == 0:
            continue
        acc += size * (converged / tried if tried else math.nan)
    return acc / total if total > 0 else math.nan
