"""Bulk writes to the ``candidates`` collection: inserts, state changes, scores.

Reads (one candidate, counts, failures, throughput) live in :mod:`genflow.core.candidates.reads`.

Every function takes the pymongo collection (``GenflowStores.candidates``), so it works the same
on production MongoDB and the embedded SecantusDB. Writes are batched (``insert_many`` /
``bulk_write``): one round trip per ``batch_size`` candidates, never one per candidate.

State changes are validated in the database itself: each update's filter requires the candidate
to be in a state from which the target is legal (``allowed_sources``), so two workers racing
on the same candidate cannot both apply conflicting transitions, and a rejected candidate can
never be silently revived.

>>> from genflow.core.store import connect  # doctest: +SKIP
>>> stores = connect()  # doctest: +SKIP
>>> insert_candidates(stores.candidates, candidates)  # doctest: +SKIP
InsertSummary(inserted=100, existing=0)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from genflow.core.candidates.hits import is_hit
from genflow.core.candidates.keys import score_key
from genflow.core.candidates.record import (
    Candidate,
    CandidateState,
    allowed_sources,
    check_transition,
)
from genflow.core.candidates.subdocs import (
    GateResult,
    HullScoreDoc,
    PrerelaxDoc,
    RelaxDoc,
    utcnow,
)
from genflow.core.jsonsafe import finite_or_none
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = [
    "InsertSummary",
    "StateUpdate",
    "TransitionSummary",
    "insert_candidates",
    "insert_new",
    "record_scores",
    "transition",
    "update_states",
]

DEFAULT_BATCH = 1000
_DUPLICATE_KEY = 11000


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


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def insert_candidates(
    collection: Collection, candidates: Iterable[Candidate], *, batch_size: int = DEFAULT_BATCH
) -> InsertSummary:
    """Insert candidates, skipping ids already stored.

    One unordered ``insert_many`` per batch against the unique ``candidate_id`` index: ids
    already present fail with a duplicate-key error that is counted as ``existing`` while the
    rest of the batch goes in, and stored documents are never overwritten. So re-submitting
    the same candidates (or two workers racing on them) inserts nothing twice and resets no
    progress. (This is the same outcome as ``UpdateOne(..., {"$setOnInsert": doc},
    upsert=True)`` at 2-3x less server work per document; see benchmarks/bench_submit.py.)

    Returns
    -------
    InsertSummary
        ``inserted`` new documents, ``existing`` ids already present, all ``ids`` in order.

    Raises
    ------
    pymongo.errors.BulkWriteError
        For any write error other than a duplicate ``candidate_id``.
    """
    inserted = existing = 0
    ids: list[str] = []
    for batch in _batches(candidates, batch_size):
        docs = [c.to_mongo() for c in batch]
        ids.extend(d["candidate_id"] for d in docs)
        new, old = insert_new(collection, docs, what="insert candidates")
        inserted, existing = inserted + new, existing + old
    return InsertSummary(inserted=inserted, existing=existing, ids=ids)


def insert_new(collection: Collection, docs: list[dict], *, what: str) -> tuple[int, int]:
    """One unordered ``insert_many`` against a unique index; return ``(inserted, existing)``.

    Documents whose unique key is already stored fail with a duplicate-key error that is
    counted as ``existing``; any other write error raises ``BulkWriteError``.
    """
    if not docs:
        return 0, 0
    try:
        result = retry_call(lambda: collection.insert_many(docs, ordered=False), what=what)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
        return exc.details.get("nInserted", 0), len(errors)
    return len(result.inserted_ids), 0


def update_states(
    collection: Collection,
    updates: Iterable[StateUpdate],
    *,
    strict: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> TransitionSummary:
    """Apply many validated state changes in bulk.

    Each update only matches a candidate in a legal source state (or already in the target,
    a no-op that still applies ``fields``, so reruns are idempotent). Candidates that did not
    match are reported, not silently dropped.

    Parameters
    ----------
    strict
        Raise ``ValueError`` listing every failed update instead of returning them.

    Returns
    -------
    TransitionSummary
        Number of documents updated and ``errors`` (candidate_id → reason) for illegal
        transitions and unknown ids.
    """
    updated = 0
    errors: dict[str, str] = {}
    for batch in _batches(updates, batch_size):
        now = utcnow()
        ops = [op for u in batch for op in _state_ops(u, now)]
        result = retry_call(
            lambda ops=ops: collection.bulk_write(ops, ordered=True), what="update states"
        )
        updated += result.matched_count
        if result.matched_count < len(batch):
            errors.update(_explain_misses(collection, batch))
    if strict and errors:
        raise ValueError(
            f"{len(errors)} state update(s) failed: "
            + "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:20])
        )
    return TransitionSummary(updated=updated, errors=errors)


def _state_ops(update: StateUpdate, now: Any) -> list[UpdateOne]:
    """Two filtered ops, of which exactly one matches a candidate in a legal state.

    The first refreshes ``fields`` of a candidate already in the target state (an idempotent
    rerun: no new history entry); the second performs the change from a legal source state.
    Plain update operators only: no aggregation-pipeline updates, which not every
    MongoDB-compatible server implements.
    """
    target = CandidateState(update.state)
    fields = {**_validated_fields(update), "updated_at": now}
    sources = [s for s in allowed_sources(target) if s != target]
    entry = {"state": str(target), "at": now, "note": update.note}
    return [
        UpdateOne({"candidate_id": update.candidate_id, "state": str(target)}, {"$set": fields}),
        UpdateOne(
            {"candidate_id": update.candidate_id, "state": {"$in": sources}},
            {
                "$set": {**fields, "state": str(target), f"state_at.{target}": now},
                "$push": {"history": entry},
            },
        ),
    ]


_SUBDOC_MODELS = {"gate": GateResult, "prerelax": PrerelaxDoc, "relax": RelaxDoc}
# What a document in each state must carry (mirrors Candidate's model validator).
_REQUIRED = {
    CandidateState.REJECTED: "reject_reason",
    CandidateState.RELAXED: "relax",
    CandidateState.SCORED: "scores",
}


def _validated_fields(update: StateUpdate) -> dict[str, Any]:
    """Validate whole sub-documents through their models and check the target's requirements."""
    fields: dict[str, Any] = {}
    for key, value in update.fields.items():
        model = _SUBDOC_MODELS.get(key)
        if model is not None and value is not None:
            try:
                value = model.model_validate(
                    value.model_dump() if isinstance(value, BaseModel) else value
                )
            except ValidationError as exc:
                raise ValueError(f"candidate {update.candidate_id}: invalid {key}: {exc}") from exc
        fields[key] = value.model_dump() if isinstance(value, BaseModel) else value
    needed = _REQUIRED.get(CandidateState(update.state))
    if needed and not any(k == needed or k.startswith(needed + ".") for k in fields):
        raise ValueError(
            f"candidate {update.candidate_id}: moving to {update.state} needs fields[{needed!r}]"
        )
    if needed == "reject_reason" and not fields["reject_reason"]:
        raise ValueError(f"candidate {update.candidate_id}: empty reject_reason")
    return fields


def _explain_misses(collection: Collection, batch: list[StateUpdate]) -> dict[str, str]:
    """Describe why updates in ``batch`` matched nothing (unknown id or illegal transition)."""
    wanted = {u.candidate_id: CandidateState(u.state) for u in batch}
    query = {"candidate_id": {"$in": list(wanted)}}
    docs = retry_call(
        lambda: list(collection.find(query, {"candidate_id": 1, "state": 1})),
        what="read candidate states",
    )
    found = {d["candidate_id"]: d["state"] for d in docs}
    errors = {}
    for cid, target in wanted.items():
        if cid not in found:
            errors[cid] = f"candidate {cid}: not found"
            continue
        try:
            check_transition(cid, found[cid], target)
        except ValueError as exc:
            errors[cid] = str(exc)
    return errors


def transition(
    collection: Collection,
    candidate_id: str,
    state: CandidateState | str,
    *,
    note: str | None = None,
    **fields: Any,
) -> None:
    """Move one candidate to ``state`` (validated in the database), setting ``fields``.

    Raises
    ------
    ValueError
        If the candidate does not exist or the transition is illegal (names both states).
    """
    update_states(collection, [StateUpdate(candidate_id, state, fields, note)], strict=True)


def record_scores(
    collection: Collection,
    scores: Mapping[str, Mapping[str, Any]],
    *,
    hit_threshold: float,
    strict: bool = False,
) -> TransitionSummary:
    """Write hull scores, mark hits and move candidates to ``scored``.

    Parameters
    ----------
    scores
        candidate_id → {hull name → ``HullScore`` (or dict)}, energies in eV/atom. Hulls not
        named keep their earlier scores (scoring on a second hull later is allowed).
    hit_threshold
        E_d (eV/atom) strictly below which a score is a hit (``settings.HIT_THRESHOLD``).
    """
    updates = []
    hit_changes: list[tuple[str, list[str], list[str]]] = []
    for cid, per_hull in scores.items():
        fields: dict[str, Any] = {}
        hits, misses = [], []
        for hull, score in per_hull.items():
            doc = HullScoreDoc.from_score(score)
            key = score_key(hull)
            fields[f"scores.{key}"] = finite_or_none(doc.model_dump())
            flag = is_hit(doc, hit_threshold)
            fields[f"is_hit.{key}"] = flag
            (hits if flag else misses).append(key)
        updates.append(StateUpdate(cid, CandidateState.SCORED, fields))
        hit_changes.append((cid, hits, misses))
    summary = update_states(collection, updates, strict=strict)
    # hit_hulls: $addToSet and $pull on one path conflict in a single update, so two ops.
    ops = []
    for cid, hits, misses in hit_changes:
        if cid in summary.errors:
            continue
        if hits:
            ops.append(
                UpdateOne({"candidate_id": cid}, {"$addToSet": {"hit_hulls": {"$each": hits}}})
            )
        if misses:
            ops.append(UpdateOne({"candidate_id": cid}, {"$pull": {"hit_hulls": {"$in": misses}}}))
    if ops:
        retry_call(lambda: collection.bulk_write(ops, ordered=True), what="mark hits")
    return summary
