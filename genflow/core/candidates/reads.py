"""Reads of the ``candidates`` collection: one candidate, pages, counts, failures, throughput.

Every read goes through :func:`genflow.core.retry.retry_call`, and :func:`iter_candidates`
resumes after the last document it yielded when a cursor breaks, so a database outage costs a
wait, never a skipped or repeated candidate. Writes live in
:mod:`genflow.core.candidates.repository`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING

from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import get_path, state_at_path
from genflow.core.candidates.queries import by_id
from genflow.core.candidates.record import Candidate, CandidateState
from genflow.core.candidates.subdocs import utcnow
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = [
    "count_states",
    "failure_counts",
    "failures",
    "failures_filter",
    "get_candidate",
    "iter_candidates",
    "resolve_candidate_id",
    "throughput",
]

DEFAULT_PAGE = 1000
_ID, _CAMPAIGN, _STATE, _CREATED = (
    K.CANDIDATE_ID.value,
    K.CAMPAIGN.value,
    K.STATE.value,
    K.CREATED_AT.value,
)
_REJECTED = str(CandidateState.REJECTED)
# A failure row: these stored fields, then the reason, then updated_at.
_FAILURE_FIELDS = (K.CANDIDATE_ID, K.CAMPAIGN, K.STATE, K.FORMULA)


def get_candidate(collection: Collection, candidate_id: str) -> Candidate:
    """Return one candidate; ``KeyError`` naming the id if it is not stored."""
    doc = retry_call(lambda: collection.find_one(by_id(candidate_id)), what="read a candidate")
    if doc is None:
        raise KeyError(f"candidate {candidate_id!r} not found in {collection.full_name}")
    return Candidate.from_mongo(doc)


def resolve_candidate_id(collection: Collection, prefix: str) -> str:
    """The full id of the one candidate whose id is ``prefix`` or starts with it.

    ``genflow hits`` shows ids cut to 11 characters; ``genflow trace`` takes them back. A
    range read on the id index, so any MongoDB server answers it alike.

    Raises
    ------
    KeyError
        No candidate id starts with ``prefix``.
    ValueError
        Several do (the first few are named): give more characters.
    """
    prefix = prefix.strip()
    if not prefix:
        raise KeyError("an empty candidate id")
    query = {_ID: {"$gte": prefix, "$lt": prefix + "\U0010ffff"}}
    docs = retry_call(
        lambda: list(collection.find(query, {"_id": 0, _ID: 1}).limit(4)), what="resolve an id"
    )
    ids = sorted(d[_ID] for d in docs)
    if prefix in ids:
        return prefix
    if not ids:
        raise KeyError(f"no candidate id starts with {prefix!r} in {collection.full_name}")
    if len(ids) > 1:
        shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
        raise ValueError(f"{prefix!r} matches several candidates ({shown}): give more of the id")
    return ids[0]


def iter_candidates(
    collection: Collection,
    campaign: str | None = None,
    state: CandidateState | str | Iterable[CandidateState | str] | None = None,
    *,
    batch_size: int = DEFAULT_PAGE,
) -> Iterator[Candidate]:
    """Yield candidates of a campaign and/or state(s), oldest first (insertion order)."""
    query: dict[str, Any] = {}
    if campaign is not None:
        query[_CAMPAIGN] = campaign
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        query[_STATE] = {"$in": [str(CandidateState(s)) for s in states]}
    # A cursor broken by an outage resumes after the last document it yielded, in the same
    # (created_at, _id) order, so no candidate is skipped or yielded twice.
    last: tuple[Any, Any] | None = None

    def page() -> list[dict]:
        q = dict(query)
        if last is not None:
            after = [
                {_CREATED: {"$gt": last[0]}},
                {_CREATED: last[0], "_id": {"$gt": last[1]}},
            ]
            q = {"$and": [query, {"$or": after}]} if query else {"$or": after}
        cursor = collection.find(q, batch_size=batch_size).sort(
            [(_CREATED, ASCENDING), ("_id", ASCENDING)]
        )
        return list(cursor.limit(batch_size))

    while docs := retry_call(page, what="read candidates"):
        for doc in docs:
            yield Candidate.from_mongo(doc)
        last = (docs[-1][_CREATED], docs[-1]["_id"])


def count_states(collection: Collection, campaign: str | None = None) -> dict[str, int]:
    """Return {state: count} for a campaign (every state present, zeros included)."""
    pipeline: list[dict[str, Any]] = []
    if campaign is not None:
        pipeline.append({"$match": {_CAMPAIGN: campaign}})
    pipeline.append({"$group": {"_id": f"${K.STATE}", "n": {"$sum": 1}}})
    counts = {str(s): 0 for s in CandidateState}
    rows = retry_call(lambda: list(collection.aggregate(pipeline)), what="count states")
    for row in rows:
        counts[str(row["_id"])] = int(row["n"])
    return counts


def failures_filter(campaign: str | None = None) -> dict[str, Any]:
    """Filter: rejected candidates and relaxations that failed or did not converge.

    A scored candidate whose relaxation did not converge is a result, not a failure to rerun;
    it is still listed (its score is flagged), as before.
    """
    query: dict[str, Any] = {
        "$or": [
            {_STATE: _REJECTED},
            {K.RELAX_CONVERGED.value: False},
            {K.RELAX_ERROR.value: {"$ne": None}},
        ]
    }
    if campaign is not None:
        query[_CAMPAIGN] = campaign
    return query


def failures(
    collection: Collection, campaign: str | None = None, *, limit: int = 0
) -> list[dict[str, Any]]:
    """Return failed candidates as rows: rejected ones and non-converged relaxations.

    Each row has candidate_id, campaign, state, formula, reason and updated_at, newest first.
    """
    query = failures_filter(campaign)
    extra = (K.UPDATED_AT, K.REJECT_REASON, K.RELAX_CONVERGED, K.RELAX_ERROR)
    proj = [str(k) for k in _FAILURE_FIELDS + extra]
    rows = []
    docs = retry_call(
        lambda: list(collection.find(query, proj).sort(K.UPDATED_AT.value, -1).limit(limit)),
        what="read failures",
    )
    for doc in docs:
        reason = (
            doc.get(K.REJECT_REASON)
            or get_path(doc, K.RELAX_ERROR)
            or "relaxation did not converge"
        )
        row = {str(k): doc.get(k) for k in _FAILURE_FIELDS}
        row["reason"] = reason
        row[K.UPDATED_AT.value] = doc.get(K.UPDATED_AT)
        rows.append(row)
    return rows


def failure_counts(collection: Collection, campaign: str | None = None) -> dict[str, int]:
    """Return {reject reason: count} for rejected candidates, most frequent first.

    Reasons are grouped on the text before the first ':' (genflow reasons read
    ``"<code>: <detail>"``, e.g. ``"min_distance: 0.31 Å < 0.5 Å"``).
    """
    match: dict[str, Any] = {_STATE: _REJECTED}
    if campaign is not None:
        match[_CAMPAIGN] = campaign
    counts: dict[str, int] = {}
    pipeline = [{"$match": match}, {"$group": {"_id": f"${K.REJECT_REASON}", "n": {"$sum": 1}}}]
    for row in retry_call(lambda: list(collection.aggregate(pipeline)), what="count failures"):
        code = str(row["_id"]).split(":", 1)[0].strip()
        counts[code] = counts.get(code, 0) + int(row["n"])
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def throughput(
    collection: Collection,
    campaign: str | None = None,
    state: CandidateState | str = CandidateState.SCORED,
    *,
    window: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> float:
    """Return candidates per hour that reached ``state`` within the last ``window``.

    Uses the ``state_at.<state>`` timestamps, so a candidate counts once however often its
    transition was re-applied.
    """
    state = CandidateState(state)
    end = now or utcnow()
    query: dict[str, Any] = {state_at_path(state): {"$gte": end - window, "$lte": end}}
    if campaign is not None:
        query[_CAMPAIGN] = campaign
    n = retry_call(lambda: collection.count_documents(query), what="count throughput")
    return n / (window.total_seconds() / 3600.0)
