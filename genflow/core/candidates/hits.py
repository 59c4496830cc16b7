"""The one hit rule: a score is a hit when it has no error and a finite E_d below a threshold.

The rule exists in two forms that must agree: :func:`is_hit` judges a score in Python (when
scores are written), :func:`hit_filter` is the MongoDB filter that finds the same candidates in
the database (hit lists, audits, hull rounds). Both live here, next to :func:`hit_threshold`
(the one place a threshold left unset becomes ``settings.HIT_THRESHOLD``);
:mod:`genflow.core.candidates.repository` is the one place that stores the verdicts
(``is_hit.<hull>``, ``hit_hulls``). ``tests/store/test_hit_rule.py`` checks that the two forms
agree on boundary values, NaN, ±inf, None and errored scores.

Thresholds and E_d are eV/atom.

>>> is_hit({"e_d": -0.01}, 0.0), is_hit({"e_d": 0.0}, 0.0), is_hit({"e_d": None}, 0.0)
(True, False, False)
>>> hit_filter("mp2021", 0.0)
{'scores.mp2021.e_d': {'$lt': 0.0, '$gt': -inf}, 'scores.mp2021.error': None}
"""

from __future__ import annotations

import math
from typing import Any

from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import score_path
from genflow.core.candidates.subdocs import HullScoreDoc

__all__ = ["hit_filter", "hit_threshold", "is_hit"]


def hit_threshold(value: float | None = None) -> float:
    """Return ``value``, or ``settings.HIT_THRESHOLD`` (eV/atom) when it is None."""
    if value is not None:
        return value
    from genflow.core.settings import get_settings

    return get_settings().HIT_THRESHOLD


def is_hit(score: HullScoreDoc | dict, threshold: float) -> bool:
    """Return True if a score is a hit: no error and a finite E_d strictly below ``threshold``."""
    doc = score if isinstance(score, HullScoreDoc) else HullScoreDoc.model_validate(score)
    return (
        doc.error is None and doc.e_d is not None and math.isfinite(doc.e_d) and doc.e_d < threshold
    )


def hit_filter(hull: str, threshold: float) -> dict[str, Any]:
    """Return the MongoDB filter equivalent to :func:`is_hit` on ``scores.<hull>``.

    ``$lt`` matches numbers only (never null or a missing field); ``$gt: -inf`` leaves out
    -inf and NaN (which MongoDB orders below every number), so only finite E_d below the
    threshold match, and a score with an error never does. It stays a range on the indexed
    ``scores.<hull>.e_d`` field.
    """
    return {
        score_path(hull, K.E_D): {"$lt": float(threshold), "$gt": -math.inf},
        score_path(hull, K.SCORE_ERROR): None,
    }
