"""Pieces both hull benchmarks use (``bench_hull.py`` and its ``--scale`` half).

``bench_hull.py`` runs ``bench_hull_scale.py``'s measurement and both compare genflow's
decompositions with pymatgen's; the shared parts live here so imports run one way
(``bench_hull`` → ``bench_hull_scale`` → ``hull_common``).
"""

from __future__ import annotations

import resource

from genflow.core.chem import _parse_str, _reduced_formula

__all__ = [
    "AMOUNT_TOL",
    "clear_parse_caches",
    "decomposition_of",
    "rss_mb",
    "same_decomposition",
]

#: Two decompositions agree when every amount above this agrees within it.
AMOUNT_TOL = 1e-6


def rss_mb() -> float:
    """Peak resident set size of this process so far (MB; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clear_parse_caches() -> None:
    """Empty genflow's formula caches, so a cold run parses every string again."""
    _parse_str.cache_clear()
    _reduced_formula.cache_clear()


def decomposition_of(decomp: dict) -> dict[str, float]:
    """pymatgen decomposition {entry: amount} as {reduced formula: amount}."""
    return {e.composition.reduced_formula: float(a) for e, a in decomp.items()}


def same_decomposition(a: dict[str, float], b: dict[str, float]) -> bool:
    """Same phases (amounts above ``AMOUNT_TOL``) with amounts within ``AMOUNT_TOL``."""
    a = {k: v for k, v in a.items() if v > AMOUNT_TOL}
    b = {k: v for k, v in b.items() if v > AMOUNT_TOL}
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= AMOUNT_TOL for k in a)
