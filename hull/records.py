"""Frozen records returned by hull scoring (energies in eV/atom), and the physical window a
score must fall in to be plausible (:func:`apply_window`, the one home of that rule: ``genflow
hull score`` and campaign scoring both go through it).

>>> s = apply_window(HullScore(formula="NaCl", e_d=-1e9, is_stable=True), below=-1.0)
>>> s.implausible, s.is_stable
(True, None)
>>> implausible_reason(s, below=-1.0)
'implausible: E_d -1e+09 eV/atom, below the physical window (-1 eV/atom); not a hit'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from genflow.hull.keys import HullColumn

__all__ = ["HullScore", "apply_window", "implausible_reason", "implausible_window"]


@dataclass(frozen=True)
class HullScore:
    """Score of one candidate against one reference hull.

    Attributes
    ----------
    formula : str or None
        Reduced formula of the candidate (None if the composition could not be parsed).
    e_d : float or None
        Decomposition energy E_d (eV/atom), negative below the reference hull (GNoME
        convention; see ``ReferenceHull.score``). None for a failed row.
    e_form : float or None
        Formation energy per atom (eV/atom) against the hull's elemental references.
    decomposition : dict
        Reduced formula → atom fraction of the hull phases at the candidate's composition.
    is_stable : bool or None
        ``e_d < STABLE_THRESHOLD`` (0 eV/atom). None for a failed row.
    is_metastable : bool or None
        ``e_d < METASTABLE_THRESHOLD`` (0.025 eV/atom). None for a failed row.
    error : str or None
        Why the row could not be scored (set instead of raising); None when scored.
    composition_known : bool or None
        The reference holds an entry of the candidate's reduced composition
        (``hull.coverage``); None for a failed row.
    binaries_known : dict
        ``"A-B"`` → whether the reference has any entry of that binary sub-system.
    novelty : str or None
        ``"known composition"`` or ``"composition absent from hull"`` (hull coverage, not a
        novelty verdict); None if failed.
    coverage : str or None
        ``"thin"`` when the reference lacks a binary of the system that data, not chemistry,
        left out (``hull.coverage.thin_binaries``), else ``"ok"``; None for a failed row.
    coverage_missing : list of str
        What makes it thin, e.g. ``"no binary Te–Yb compound in mp2021"``.
    implausible : bool or None
        E_d below the physical window (``IMPLAUSIBLE_E_D``, :func:`genflow.hull.io.
        score_candidates`): scored, but a unit slip or broken calculation, never a hit
        (``is_stable``/``is_metastable`` are None then). None: not checked or failed.
    """

    formula: str | None = None
    e_d: float | None = None
    e_form: float | None = None
    decomposition: dict[str, float] = field(default_factory=dict)
    is_stable: bool | None = None
    is_metastable: bool | None = None
    error: str | None = None
    composition_known: bool | None = None
    binaries_known: dict[str, bool] = field(default_factory=dict)
    novelty: str | None = None
    implausible: bool | None = None
    coverage: str | None = None
    coverage_missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the row was scored (no error and a finite E_d)."""
        return self.error is None and self.e_d is not None and math.isfinite(self.e_d)

    def as_row(self) -> dict[str, Any]:
        """Flat dict for CSV/JSON output, keyed by ``HullColumn`` values."""
        return {
            HullColumn.formula: self.formula,
            HullColumn.e_d: self.e_d,
            HullColumn.e_form: self.e_form,
            HullColumn.is_stable: self.is_stable,
            HullColumn.is_metastable: self.is_metastable,
            HullColumn.decomposition: dict(self.decomposition),
            HullColumn.error: self.error,
            HullColumn.novelty: self.novelty,
            HullColumn.implausible: self.implausible,
        }

    @classmethod
    def failed(cls, error: str, formula: str | None = None) -> HullScore:
        """A row that could not be scored, carrying the reason."""
        return cls(formula=formula, error=error)


def implausible_window(below: float | None = None) -> float:
    """The lower edge of the physical window (E_d, eV/atom): ``below``, or the
    ``IMPLAUSIBLE_E_D`` setting when it is None (the campaign spec's
    ``score.implausible_below`` and ``genflow hull score --implausible-below`` pass theirs)."""
    if below is not None:
        return float(below)
    from genflow.core.settings import get_settings

    return get_settings().IMPLAUSIBLE_E_D


def apply_window(score: HullScore, below: float | None = None) -> HullScore:
    """``score`` checked against the physical window: E_d below ``below`` (eV/atom; None:
    :func:`implausible_window`) marks it ``implausible``, kept but with ``is_stable`` /
    ``is_metastable`` None, so it is never stable nor a hit: -1e9 eV/atom is a unit or sign
    slip or a broken calculation, not a discovery. A failed score comes back unchanged."""
    if not score.ok:
        return score
    bad = bool(score.e_d < implausible_window(below))  # type: ignore[operator]
    stable = (None, None) if bad else (score.is_stable, score.is_metastable)
    return replace(score, implausible=bad, is_stable=stable[0], is_metastable=stable[1])


def implausible_reason(score: HullScore, below: float | None = None) -> str | None:
    """Why an implausible score is one (None for any other): its E_d and the window's edge."""
    if not score.implausible:
        return None
    return (
        f"implausible: E_d {score.e_d:.4g} eV/atom, below the physical window "
        f"({implausible_window(below):g} eV/atom); not a hit"
    )
