"""The requests and results of writes to the candidates collection (no database access).

:mod:`genflow.core.candidates.repository` takes and returns these; they live apart so a caller
(a hull round, the gate, a rerun) can build them without importing the writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genflow.core.candidates.record import CandidateState
from genflow.core.candidates.subdocs import HullScoreDoc

__all__ = ["InsertSummary", "Rescore", "StateUpdate", "TransitionSummary"]


@dataclass(frozen=True)
class InsertSummary:
    """Result of :func:`insert_candidates`: new documents vs ids that were already stored."""

    inserted: int
    existing: int
    ids: list[str] = field(repr=False)


@dataclass(frozen=True)
class StateUpdate:
    """One requested state change: move ``candidate_id`` to ``state`` and ``$set`` ``fields``.

    ``fields`` keys may be dotted paths (``"relax.converged"``); values must be BSON-ready
    (use ``model.model_dump()`` for pydantic sub-documents).
    """

    candidate_id: str
    state: CandidateState | str
    fields: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class TransitionSummary:
    """Result of :func:`update_states`; ``errors`` maps candidate_id → reason, one row each."""

    updated: int
    errors: dict[str, str]


@dataclass(frozen=True)
class Rescore:
    """A candidate's score on a later hull round (``genflow.hull.rounds``), eV/atom.

    ``previous`` is the stored score it replaces, kept under ``score_rounds.<hull>.<round>``;
    ``duplicate_of`` the candidate's ``verdict.duplicate_of`` (a duplicate stays no hit).
    """

    candidate_id: str
    hull: str
    score: HullScoreDoc
    previous: Mapping[str, Any]
    duplicate_of: str | None = None
