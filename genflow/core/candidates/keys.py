"""Every stored field of a candidate document, named once (Matbench Discovery's ``MbdKey`` habit).

:class:`CandidateKey` holds each field path as MongoDB spells it (``"relax.energy_per_atom"``),
so a query, a projection, an index and a document read all name a field the same way, and a
renamed field is one edit. Paths with a part that varies (a hull, a state, a round) are built
by the small functions below from the same members::

    score_path("mp2021", CandidateKey.E_D)   → "scores.mp2021.e_d"
    hit_path("mp2021")                       → "is_hit.mp2021"
    state_at_path("scored")                  → "state_at.scored"

Members marked *relative* name a field inside a hull's score (``scores.<hull>.<field>``); pass
them to :func:`score_path`.

>>> str(score_path("refs/my refs.csv", CandidateKey.AUDIT_VERDICT))
'scores.my_refs.audit.verdict'
>>> get_path({"relax": {"energy_per_atom": -1.5}}, CandidateKey.RELAX_ENERGY)
-1.5
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum, unique
from typing import Any

__all__ = [
    "HULL_GAP_SUSPECTED",
    "CandidateKey",
    "get_path",
    "hit_path",
    "score_key",
    "score_path",
    "score_round_path",
    "state_at_path",
]

# The audit verdict (``scores.<hull>.audit.verdict``) that marks a hit a hull gap
# (``workflows.hit_audit``): hits lists and hull rounds leave such hits out.
HULL_GAP_SUSPECTED = "hull_gap_suspected"


@unique
class CandidateKey(StrEnum):
    """Field paths of the ``candidates`` collection (dotted for sub-documents)."""

    CANDIDATE_ID = "candidate_id"
    CAMPAIGN = "campaign"
    PROVENANCE = "provenance"
    MODEL_NAME = "provenance.model_name"
    CHECKPOINT_HASH = "provenance.checkpoint_hash"
    SEED = "provenance.seed"
    SAMPLE_INDEX = "provenance.sample_index"
    CONDITIONING = "provenance.conditioning"
    STRUCTURE = "structure"
    RAW_INPUT = "raw_input"
    FORMULA = "formula"
    REDUCED_FORMULA = "reduced_formula"
    CHEMSYS = "chemsys"
    ELEMENTS = "elements"
    NSITES = "nsites"
    STATE = "state"
    REJECT_REASON = "reject_reason"
    GATE = "gate"
    GATE_VALID = "gate.valid"
    GATE_NOVEL = "gate.novel"
    GATE_FINGERPRINT = "gate.fingerprint"
    GATE_DUPLICATE_OF = "gate.duplicate_of"
    GATE_NOVELTY_SOURCE = "gate.novelty_source"
    PRERELAX = "prerelax"
    RELAX = "relax"
    RELAX_ENGINE = "relax.engine"
    RELAX_ENERGY = "relax.energy_per_atom"
    RELAX_CONVERGED = "relax.converged"
    RELAX_ERROR = "relax.error"
    RELAX_STRUCTURE = "relax.structure"
    RELAX_TASK_UUID = "relax.task_uuid"
    RELAX_TASK_UUIDS = "relax.task_uuids"
    SCORES = "scores"
    SCORE_ROUNDS = "score_rounds"
    IS_HIT = "is_hit"
    HIT_HULLS = "hit_hulls"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    STATE_AT = "state_at"
    HISTORY = "history"
    # the verdicts on the relaxed structure (subdocs.VerdictDoc, workflows.verdicts)
    VERDICT = "verdict"
    VERDICT_NOVELTY = "verdict.novelty"
    NOVELTY_REASON = "verdict.novelty_reason"
    NOVELTY_REF_ID = "verdict.novelty_ref_id"
    NOVELTY_SOURCE = "verdict.novelty_source"
    NOVELTY_COMPARED = "verdict.novelty_compared"
    NOVELTY_SOURCES = "verdict.novelty_sources"
    NOVELTY_HULL = "verdict.novelty_hull"
    DUPLICATE_OF = "verdict.duplicate_of"
    VERDICT_GEOMETRY = "verdict.geometry"
    VERDICT_FINGERPRINT = "verdict.fingerprint"
    SPACEGROUP_GENERATED = "verdict.spacegroup_generated"
    SPACEGROUP_RELAXED = "verdict.spacegroup_relaxed"
    PROTOTYPE = "verdict.prototype"
    PROTOTYPE_NAME = "verdict.prototype_name"
    # relative: fields of one hull's score, ``scores.<hull>.<field>`` (subdocs.HullScoreDoc)
    E_D = "e_d"
    E_FORM = "e_form"
    SCORE_ERROR = "error"
    IMPLAUSIBLE = "implausible"
    NOVELTY = "novelty"
    COVERAGE = "coverage"
    COVERAGE_MISSING = "coverage_missing"
    AUDIT = "audit"
    AUDIT_VERDICT = "audit.verdict"
    ROUND = "round"


K = CandidateKey
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def score_key(hull: str) -> str:
    """Return the key a hull's scores are stored under (``scores.<key>``, ``is_hit.<key>``).

    A bundled hull keys its scores by its name (``mp2021``, ``gnome``); a user's hull file by
    its file stem (``hulls/my refs.csv`` → ``my_refs``), with characters a MongoDB field name
    cannot carry replaced by ``_``. Scoring, hits, indexes and status all go through this one
    function, so a hull named one way on the command line is found under the same key.

    >>> score_key("mp2021"), score_key("refs/my refs.csv")
    ('mp2021', 'my_refs')

    Raises
    ------
    ValueError
        For an empty name, or one that keeps no letter or digit.
    """
    if not isinstance(hull, str) or not hull.strip():
        raise ValueError(f"hull name {hull!r}: expected a hull name or a hull file path")
    if _SAFE_KEY.match(hull):
        return hull
    stem = hull.strip().rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    key = re.sub(r"[^A-Za-z0-9_-]", "_", stem)
    if not key.strip("_-"):
        raise ValueError(f"hull name {hull!r} cannot key scores: no letters or digits")
    return key


def score_path(hull: str, field: CandidateKey | None = None) -> str:
    """``scores.<key>`` of a hull, or ``scores.<key>.<field>`` for a relative member."""
    base = f"{K.SCORES}.{score_key(hull)}"
    return base if field is None else f"{base}.{field}"


def score_round_path(hull: str, round_no: int | None = None) -> str:
    """``score_rounds.<key>.<round>``: a hull's score as it stood on an earlier round
    (``score_rounds.<key>``, every earlier round, without ``round_no``)."""
    base = f"{K.SCORE_ROUNDS}.{score_key(hull)}"
    return base if round_no is None else f"{base}.{int(round_no)}"


def hit_path(hull: str) -> str:
    """``is_hit.<key>``: whether the candidate is a hit on a hull."""
    return f"{K.IS_HIT}.{score_key(hull)}"


def state_at_path(state: str) -> str:
    """``state_at.<state>``: when the candidate first reached a state."""
    return f"{K.STATE_AT}.{state}"


def get_path(doc: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """Read a dotted ``path`` from a stored document (``default`` where any part is missing
    or null), the way a MongoDB projection returns it."""
    value: Any = doc
    for part in str(path).split("."):
        if not isinstance(value, Mapping):
            return default
        value = value.get(part)
        if value is None:
            return default
    return value
