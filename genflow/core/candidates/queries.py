"""MongoDB filters, projections and sorts over the ``candidates`` collection.

Plain dict builders, no database access: the reads in :mod:`~genflow.core.candidates.reads`, the
writes in :mod:`~genflow.core.candidates.repository` and the rooms that read candidates for
themselves (hits, audits, hull rounds, reports) build their queries here, so a query names its
fields through :class:`~genflow.core.candidates.keys.CandidateKey` and a hit is found by the
one hit rule (:func:`~genflow.core.candidates.hits.hit_filter`).

>>> scored_hits_filter("mp2021", 0.0, campaign="demo")["state"]
'scored'
>>> by_ids(["gf-1"])
{'candidate_id': {'$in': ['gf-1']}}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from genflow.core.candidates.hits import hit_filter
from genflow.core.candidates.keys import HULL_GAP_SUSPECTED, score_path, state_at_path
from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.record import CandidateState

__all__ = [
    "HIT_ROW_FIELDS",
    "HIT_ROW_PROJECTION",
    "by_id",
    "by_ids",
    "e_d_sort",
    "hits_index_keys",
    "scored_hits_filter",
    "scored_on_filter",
]

SCORED = str(CandidateState.SCORED)
# What a hit row (campaign.hits.Hit) copies from its candidate; each field's last path part
# names the row's attribute (relax.engine → engine).
HIT_ROW_FIELDS = (
    K.CANDIDATE_ID, K.CAMPAIGN, K.FORMULA, K.REDUCED_FORMULA, K.CHEMSYS, K.RELAX_ENGINE,
    K.RELAX_TASK_UUID, K.MODEL_NAME, K.CHECKPOINT_HASH, K.SEED, K.SAMPLE_INDEX, K.CONDITIONING,
    K.VERDICT_NOVELTY, K.NOVELTY_REASON, K.NOVELTY_REF_ID, K.NOVELTY_SOURCE, K.NOVELTY_COMPARED,
    K.NOVELTY_SOURCES, K.DUPLICATE_OF, K.SPACEGROUP_GENERATED, K.SPACEGROUP_RELAXED,
    K.PROTOTYPE, K.PROTOTYPE_NAME,
)  # fmt: skip
# What find_hits reads besides its hull's score: those fields and the time it was scored.
HIT_ROW_PROJECTION = (*(str(k) for k in HIT_ROW_FIELDS), state_at_path(SCORED))


def by_id(candidate_id: str) -> dict[str, Any]:
    """Filter: the candidate with this id."""
    return {K.CANDIDATE_ID.value: candidate_id}


def by_ids(candidate_ids: Iterable[str]) -> dict[str, Any]:
    """Filter: the candidates with these ids."""
    return {K.CANDIDATE_ID.value: {"$in": list(candidate_ids)}}


def scored_hits_filter(
    hull: str,
    threshold: float,
    *,
    campaign: str | None = None,
    candidate_ids: Iterable[str] | None = None,
    scored_since: datetime | None = None,
    hide_gaps: bool = False,
) -> dict[str, Any]:
    """Filter: ``scored`` candidates that are hits on ``hull`` below ``threshold`` (eV/atom).

    Parameters
    ----------
    campaign, candidate_ids
        Only this campaign / these candidates.
    scored_since
        Only candidates scored at or after this (timezone-aware) time.
    hide_gaps
        Leave out hits the audit labelled ``hull_gap_suspected`` (``workflows.hit_audit``).
    """
    # The hit rule's E_d range first: where no index covers the whole filter (``since``,
    # ``hide_gaps``), SecantusDB looks up the first clause an index serves and checks the rest.
    query: dict[str, Any] = {**hit_filter(hull, threshold), K.STATE.value: SCORED}
    if candidate_ids is not None:
        query.update(by_ids(candidate_ids))
    if campaign is not None:
        query[K.CAMPAIGN.value] = campaign
    if scored_since is not None:
        query[state_at_path(SCORED)] = {"$gte": scored_since}
    if hide_gaps:
        query[score_path(hull, K.AUDIT_VERDICT)] = {"$ne": HULL_GAP_SUSPECTED}
    return query


def hits_index_keys(hull: str, *, by_campaign: bool = False) -> list[tuple[str, int]]:
    """The compound index that serves :func:`scored_hits_filter` (``by_campaign``: with
    ``campaign``) on ``hull``: its equality fields (the hit rule's null predicates included),
    then the E_d range, read off the filter itself so the two cannot drift apart.

    SecantusDB's planner uses an index for a filter of equalities plus one range only when
    the index leads with exactly those equality fields and then the range field; MongoDB
    plans the same index (equality, then range). ``genflow.core.store.ensure_indexes``
    creates both forms for the default hulls.

    >>> [k for k, _ in hits_index_keys("mp2021")][-1]
    'scores.mp2021.e_d'
    """
    query = scored_hits_filter(hull, 0.0, campaign="" if by_campaign else None)
    lead = [K.CAMPAIGN.value, K.STATE.value]  # as the (campaign, state) index has them
    equal = sorted(
        (k for k, v in query.items() if not isinstance(v, dict)),
        key=lambda k: lead.index(k) if k in lead else len(lead),
    )
    ranges = [k for k, v in query.items() if isinstance(v, dict)]
    return [(k, 1) for k in (*equal, *ranges)]


def scored_on_filter(hull: str) -> dict[str, Any]:
    """Filter: ``scored`` candidates that carry a score on ``hull``."""
    return {K.STATE.value: SCORED, score_path(hull): {"$exists": True}}


def e_d_sort(hull: str) -> list[tuple[str, int]]:
    """Sort: most stable first on ``hull`` (ascending E_d, the indexed field)."""
    return [(score_path(hull, K.E_D), 1)]
