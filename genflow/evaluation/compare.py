"""Head-to-head of two scored sample sets on the same hull (Yang et al. 2023, Tables 2-3).

Each set is a file with compositions and energies per atom (anything
:func:`genflow.hull.io.read_candidates` reads: CSV/JSON tables, entry JSON, extxyz with
energies). Both are scored on one :class:`~genflow.hull.reference.ReferenceHull`; the
numbers come from :mod:`genflow.hull.metrics` (# stable / # metastable, Eq. 5; ΔE_f, Eq. 3;
E_f reduction rate, Eq. 4), never recomputed here. With a reference set and structure files,
the proxy metrics of both sets are put side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genflow.hull.io import read_candidates
from genflow.hull.metrics import (
    compare_formation_energies,
    lowest_e_form_per_composition,
    summarize_scores,
)

__all__ = ["ScoredSet", "compare_sets", "score_file"]


class ScoredSet:
    """One set scored on a hull: its name, rows' formulas, E_d and E_f (eV/atom)."""

    def __init__(self, name: str, scores: list) -> None:
        self.name = name
        self.scores = scores

    @property
    def e_d(self) -> list[float]:
        """E_d of the scored rows (eV/atom)."""
        return [s.e_d for s in self.scores if s.ok]

    @property
    def e_form_pairs(self) -> list[tuple[str, float]]:
        """(formula, E_f) of the scored rows."""
        return [(s.formula, s.e_form) for s in self.scores if s.ok and s.e_form is not None]


def score_file(path: str | Path, hull: Any, *, progress: bool = False) -> ScoredSet:
    """Read compositions and energies per atom from ``path`` and score them on ``hull``."""
    rows, _ = read_candidates(path)
    scores = hull.score(
        [r.composition for r in rows], [r.energy_per_atom for r in rows], progress=progress
    )
    scores = [
        type(s).failed(r.error, s.formula) if r.error else s
        for r, s in zip(rows, scores, strict=True)
    ]
    return ScoredSet(Path(path).name, scores)


def compare_sets(a: ScoredSet, b: ScoredSet, *, hull_name: str) -> dict[str, Any]:
    """Table 2 (ΔE_f, reduction rate) and Table 3 (# stable, # metastable) numbers for A vs B.

    ``per_composition`` lists E_f^A(c) - E_f^B(c) for every matched reduced formula, sorted
    (the data of the paper's Figs. 5 and 8).
    """
    best_a = lowest_e_form_per_composition(a.e_form_pairs)
    best_b = lowest_e_form_per_composition(b.e_form_pairs)
    per_comp = sorted(
        ({"formula": c, "e_form_a": best_a[c], "e_form_b": best_b[c],
          "delta": best_a[c] - best_b[c]} for c in set(best_a) & set(best_b)),
        key=lambda r: r["delta"],
    )  # fmt: skip
    return {
        "hull": hull_name,
        "a": {"name": a.name, **summarize_scores(a.scores)},
        "b": {"name": b.name, **summarize_scores(b.scores)},
        **compare_formation_energies(a.e_form_pairs, b.e_form_pairs),
        "per_composition": per_comp,
    }
