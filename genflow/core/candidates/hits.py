"""The one hit rule and the one S.U.N. rule, each in its Python and its MongoDB form.

Hit: a score with no error, not marked implausible (E_d below the physical window,
``genflow.hull.records.apply_window``) and a finite E_d below a threshold, on a candidate
that did not relax into an earlier candidate's crystal (``verdict.duplicate_of``; two
candidates that relax into one crystal are one hit). :func:`is_hit` judges a score in Python
(when scores are written), :func:`hit_filter` is the MongoDB filter that finds the same
candidates in the database (hit lists, audits, hull rounds). Both live here, next to
:func:`hit_threshold` (the one place a threshold left unset becomes ``settings.HIT_THRESHOLD``);
:mod:`genflow.core.candidates.repository` is the one place that stores the verdicts
(``is_hit.<hull>``, ``hit_hulls``). ``tests/store/test_hit_rule.py`` checks that the two forms
agree on boundary values, NaN, ±inf, None, errored and implausible scores.

S.U.N. (MatterGen, Zeni et al. 2025; LeMat-GenBench), defined once in :func:`sun_flags`::

    S = E_d ≤ 0 eV/atom on a named hull          (M.S.U.N.: E_d ≤ 0.1 eV/atom)
    U = no earlier relaxed candidate matches it   (verdict.duplicate_of is None)
    N = verdict.novelty == "novel"                (no match in a named reference set)
    SUN = S ∧ U ∧ N,   MSUN = S_0.1 ∧ U ∧ N,   rates over all candidates generated

Thresholds and E_d are eV/atom.

>>> is_hit({"e_d": -0.01}, 0.0), is_hit({"e_d": 0.0}, 0.0), is_hit({"e_d": None}, 0.0)
(True, False, False)
>>> hit_filter("mp2021", 0.0)
{'scores.mp2021.e_d': {'$lt': 0.0, '$gt': -inf}, 'scores.mp2021.error': None, \
'scores.mp2021.implausible': None, 'verdict.duplicate_of': None}
>>> sun_flags(-0.02, None, "novel")
SunFlags(stable=True, metastable=True, unique=True, novel=True, sun=True, msun=True)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import score_path
from genflow.core.candidates.subdocs import HullScoreDoc

__all__ = [
    "MSUN_MAX_ED",
    "SUN_MAX_ED",
    "SunFlags",
    "hit_filter",
    "hit_threshold",
    "is_hit",
    "sun_counts",
    "sun_filter",
    "sun_flags",
]

#: E_d (eV/atom, inclusive) below which a candidate is stable for S.U.N. / metastable for M.S.U.N.
SUN_MAX_ED = 0.0
MSUN_MAX_ED = 0.1


def hit_threshold(value: float | None = None) -> float:
    """Return ``value``, or ``settings.HIT_THRESHOLD`` (eV/atom) when it is None."""
    if value is not None:
        return value
    from genflow.core.settings import get_settings

    return get_settings().HIT_THRESHOLD


def is_hit(
    score: HullScoreDoc | dict, threshold: float, *, duplicate_of: str | None = None
) -> bool:
    """Return True if a score is a hit: no error, not implausible and a finite E_d strictly
    below ``threshold``, on a candidate that is no duplicate of an earlier one after relaxation."""
    doc = score if isinstance(score, HullScoreDoc) else HullScoreDoc.model_validate(score)
    return (
        duplicate_of is None
        and doc.error is None
        and not doc.implausible
        and doc.e_d is not None
        and math.isfinite(doc.e_d)
        and doc.e_d < threshold
    )


def hit_filter(hull: str, threshold: float) -> dict[str, Any]:
    """Return the MongoDB filter equivalent to :func:`is_hit` on ``scores.<hull>``.

    ``$lt`` matches numbers only (never null or a missing field); ``$gt: -inf`` leaves out
    -inf and NaN (which MongoDB orders below every number), so only finite E_d below the
    threshold match, and a score with an error never does. ``implausible: None``: a score
    marked implausible is stored with ``true``, any other with null (``HullScoreDoc``), so
    the equality is the rule's ``not implausible``. ``verdict.duplicate_of: None``
    also matches a candidate judged before verdicts existed (no ``verdict``). Equalities
    (null ones included) and one range: the shape an index serves on SecantusDB as on
    MongoDB, the hits index of :func:`~genflow.core.candidates.queries.hits_index_keys`.
    """
    return {
        score_path(hull, K.E_D): {"$lt": float(threshold), "$gt": -math.inf},
        score_path(hull, K.SCORE_ERROR): None,
        score_path(hull, K.IMPLAUSIBLE): None,
        K.DUPLICATE_OF.value: None,
    }


class SunFlags(NamedTuple):
    """S, U and N of one candidate on one hull, and their conjunctions (module docstring)."""

    stable: bool
    metastable: bool
    unique: bool
    novel: bool
    sun: bool
    msun: bool


def _finite(e_d: Any) -> bool:
    return isinstance(e_d, int | float) and math.isfinite(e_d)


def sun_flags(e_d: float | None, duplicate_of: str | None, novelty: str | None) -> SunFlags:
    """S.U.N. of one candidate: ``e_d`` on a named hull (eV/atom; None: unscored), its
    ``verdict.duplicate_of`` and ``verdict.novelty`` (see the module docstring)."""
    stable = _finite(e_d) and e_d <= SUN_MAX_ED
    metastable = _finite(e_d) and e_d <= MSUN_MAX_ED
    unique, novel = duplicate_of is None, novelty == "novel"
    return SunFlags(stable, metastable, unique, novel, stable and unique and novel,
                    metastable and unique and novel)  # fmt: skip


def sun_filter(hull: str, *, metastable: bool = False) -> dict[str, Any]:
    """MongoDB filter: candidates that are S.U.N. (M.S.U.N. with ``metastable``) on ``hull``."""
    return {
        score_path(hull, K.E_D): {"$lte": MSUN_MAX_ED if metastable else SUN_MAX_ED,
                                  "$gt": -math.inf},
        score_path(hull, K.SCORE_ERROR): None,
        score_path(hull, K.IMPLAUSIBLE): None,
        K.DUPLICATE_OF.value: None,
        K.VERDICT_NOVELTY.value: "novel",
    }  # fmt: skip


def sun_counts(rows: list[tuple[float | None, str | None, str | None]], n_total: int) -> dict:
    """SUN and MSUN counts and rates of ``(e_d, duplicate_of, novelty)`` rows over
    ``n_total`` candidates generated (every row, rejected ones included; NaN when 0)."""
    flags = [sun_flags(*r) for r in rows]
    n_sun, n_msun = sum(f.sun for f in flags), sum(f.msun for f in flags)
    rate = (lambda k: k / n_total) if n_total else (lambda k: math.nan)
    return {
        "n_total": n_total,
        "n_stable": sum(f.stable for f in flags),
        "n_metastable": sum(f.metastable for f in flags),
        "n_unique": sum(f.unique for f in flags),
        "n_novel": sum(f.novel for f in flags),
        "n_sun": n_sun,
        "sun_rate": rate(n_sun),
        "n_msun": n_msun,
        "msun_rate": rate(n_msun),
        "sun_max_ed": SUN_MAX_ED,
        "msun_max_ed": MSUN_MAX_ED,
    }
