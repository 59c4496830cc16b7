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
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from genflow.core.candidates.hits import is_hit
from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import (
    hit_path,
    score_key,
    score_path,
    score_round_path,
    state_at_path,
)
from genflow.core.candidates.queries import by_id, by_ids
from genflow.core.candidates.record import (
    RERUN_TRANSITIONS,
    Candidate,
    CandidateState,
    StateChange,
    allowed_sources,
    check_transition,
)
from genflow.core.candidates.subdocs import (
    GateResult,
    HullScoreDoc,
    PrerelaxDoc,
    RelaxDoc,
    VerdictDoc,
    utcnow,
)
from genflow.core.candidates.updates import (
    InsertSummary,
    Rescore,
    StateUpdate,
    TransitionSummary,
)
from genflow.core.jsonsafe import finite_or_none
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = [
    "InsertSummary",
    "Rescore",
    "StateUpdate",
    "TransitionSummary",
    "insert_candidates",
    "insert_new",
    "record_audit",
    "record_rescores",
    "record_scores",
    "record_verdicts",
    "reopen_for_rerun",
    "transition",
    "update_states",
]

DEFAULT_BATCH = 1000
# plain-str field names for the BSON documents this module builds
_ID, _STATE, _HIT_HULLS = K.CANDIDATE_ID.value, K.STATE.value, K.HIT_HULLS.value
_DUPLICATE_KEY = 11000


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
        ids.extend(d[_ID] for d in docs)
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
    fields = {**_validated_fields(update), K.UPDATED_AT.value: now}
    sources = [s for s in allowed_sources(target) if s != target]
    entry = StateChange(state=target, at=now, note=update.note).model_dump()
    return [
        UpdateOne({_ID: update.candidate_id, _STATE: str(target)}, {"$set": fields}),
        UpdateOne(
            {_ID: update.candidate_id, _STATE: {"$in": sources}},
            {
                "$set": {**fields, _STATE: str(target), state_at_path(target): now},
                "$push": {K.HISTORY.value: entry},
            },
        ),
    ]


_SUBDOC_MODELS = {K.GATE: GateResult, K.PRERELAX: PrerelaxDoc, K.RELAX: RelaxDoc}
# What a document in each state must carry (mirrors Candidate's model validator).
_REQUIRED = {
    CandidateState.REJECTED: K.REJECT_REASON.value,
    CandidateState.RELAXED: K.RELAX.value,
    CandidateState.SCORED: K.SCORES.value,
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
        fields[str(key)] = value.model_dump() if isinstance(value, BaseModel) else value
    needed = _REQUIRED.get(CandidateState(update.state))
    if needed and not any(k == needed or k.startswith(needed + ".") for k in fields):
        raise ValueError(
            f"candidate {update.candidate_id}: moving to {update.state} needs fields[{needed!r}]"
        )
    if needed == K.REJECT_REASON and not fields[K.REJECT_REASON]:
        raise ValueError(f"candidate {update.candidate_id}: empty reject_reason")
    return fields


def _explain_misses(collection: Collection, batch: list[StateUpdate]) -> dict[str, str]:
    """Describe why updates in ``batch`` matched nothing (unknown id or illegal transition)."""
    wanted = {u.candidate_id: CandidateState(u.state) for u in batch}
    query = by_ids(wanted)
    docs = retry_call(
        lambda: list(collection.find(query, [_ID, _STATE])),
        what="read candidate states",
    )
    found = {d[_ID]: d[_STATE] for d in docs}
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
    notes: Mapping[str, str] | None = None,
) -> TransitionSummary:
    """Write hull scores, mark hits and move candidates to ``scored``.

    Parameters
    ----------
    scores
        candidate_id → {hull name → ``HullScore`` (or dict)}, energies in eV/atom. Hulls not
        named keep their earlier scores (scoring on a second hull later is allowed).
    hit_threshold
        E_d (eV/atom) strictly below which a score is a hit (``settings.HIT_THRESHOLD``).
    notes
        candidate_id → a note for its ``scored`` history entry (e.g. why a score is
        implausible).
    """
    notes = notes or {}
    updates = []
    hit_changes: list[tuple[str, list[str], list[str]]] = []
    for cid, per_hull in scores.items():
        fields: dict[str, Any] = {}
        hits, misses = [], []
        for hull, score in per_hull.items():
            doc = HullScoreDoc.from_score(score)
            key = score_key(hull)
            fields[score_path(key)] = finite_or_none(doc.model_dump())
            flag = is_hit(doc, hit_threshold)
            fields[hit_path(key)] = flag
            (hits if flag else misses).append(key)
        updates.append(StateUpdate(cid, CandidateState.SCORED, fields, note=notes.get(cid)))
        hit_changes.append((cid, hits, misses))
    summary = update_states(collection, updates, strict=strict)
    ops = [
        op
        for cid, hits, misses in hit_changes
        if cid not in summary.errors
        for op in _hit_hulls_ops(cid, hits, misses)
    ]
    if ops:
        retry_call(lambda: collection.bulk_write(ops, ordered=True), what="mark hits")
    return summary


def _hit_hulls_ops(candidate_id: str, hits: list[str], misses: list[str]) -> list[UpdateOne]:
    """Add ``hits`` to and drop ``misses`` from ``hit_hulls`` (hull keys).

    ``$addToSet`` and ``$pull`` on one path conflict in a single update, so two ops.
    """
    ops = []
    if hits:
        ops.append(UpdateOne(by_id(candidate_id), {"$addToSet": {_HIT_HULLS: {"$each": hits}}}))
    if misses:
        ops.append(UpdateOne(by_id(candidate_id), {"$pull": {_HIT_HULLS: {"$in": misses}}}))
    return ops


def record_rescores(
    collection: Collection, rescores: Iterable[Rescore], *, hit_threshold: float
) -> int:
    """Write re-scores from a new hull round (the state stays ``scored``) and re-mark hits.

    Each candidate's previous score moves to ``score_rounds.<hull>.<its round>``, the new one
    becomes ``scores.<hull>``, and ``is_hit.<hull>`` / ``hit_hulls`` follow :func:`is_hit`
    with ``hit_threshold`` (eV/atom). Returns the number of candidates written.
    """
    ops: list[UpdateOne] = []
    n = 0
    for r in rescores:
        key = score_key(r.hull)
        hit = is_hit(r.score, hit_threshold, duplicate_of=r.duplicate_of)
        fields = {
            score_round_path(key, r.previous.get(K.ROUND, 0)): dict(r.previous),
            score_path(key): r.score.model_dump(),
            hit_path(key): hit,
        }
        ops.append(UpdateOne(by_id(r.candidate_id), {"$set": fields}))
        ops += _hit_hulls_ops(r.candidate_id, [key] if hit else [], [] if hit else [key])
        n += 1
    if ops:
        retry_call(lambda: collection.bulk_write(ops, ordered=True), what="record re-scores")
    return n


def record_audit(
    collection: Collection, hull: str, candidate_id: str, audit: Mapping[str, Any]
) -> None:
    """Store a hit audit's verdict as ``scores.<hull>.audit`` (``workflows.hit_audit``)."""
    update = {"$set": {score_path(hull, K.AUDIT): dict(audit)}}
    retry_call(lambda: collection.update_one(by_id(candidate_id), update), what="record hit audit")


def record_verdicts(
    collection: Collection,
    verdicts: Mapping[str, VerdictDoc | Mapping[str, Any]],
    *,
    hulls: Iterable[str] = (),
) -> int:
    """Store each candidate's verdicts on its relaxed cell at ``verdict`` (state unchanged).

    A candidate that relaxed into an earlier one's crystal (``duplicate_of``) is no hit: its
    ``is_hit.<hull>`` of each of ``hulls`` becomes False and ``hit_hulls`` loses them, as
    :func:`~genflow.core.candidates.hits.is_hit` says. Returns the number written.
    """
    keys = [score_key(h) for h in hulls]
    ops: list[UpdateOne] = []
    for cid, verdict in verdicts.items():
        doc = VerdictDoc.model_validate(
            verdict.model_dump() if isinstance(verdict, BaseModel) else dict(verdict)
        )
        fields: dict[str, Any] = {K.VERDICT.value: doc.model_dump()}
        if doc.duplicate_of is not None:
            fields.update({hit_path(k): False for k in keys})
        ops.append(UpdateOne(by_id(cid), {"$set": fields}))
        if doc.duplicate_of is not None and keys:
            ops += _hit_hulls_ops(cid, [], keys)
    if ops:
        retry_call(lambda: collection.bulk_write(ops, ordered=True), what="record verdicts")
    return len(verdicts)


def reopen_for_rerun(collection: Collection, notes: Mapping[str, str]) -> list[str]:
    """Move relax failures back to ``gated`` for a rerun; return the ids reopened.

    Only a candidate ``rejected`` with a ``relax`` sub-document (its relaxation failed) is
    reopened (``record.RERUN_TRANSITIONS``): gate decisions and scored candidates are never
    touched, so each candidate is still scored once. One conditional update per candidate, so
    two reruns racing reopen it once. ``reject_reason`` and ``relax`` are cleared (the score job
    writes them anew); the history keeps every earlier entry and gains one ``gated`` entry
    whose note (``notes[id]``) says why, with what settings and from which geometry.
    """
    source, target = next(iter(RERUN_TRANSITIONS.items()))
    reopened = []
    for cid, note in notes.items():
        now = utcnow()
        entry = StateChange(state=target, at=now, note=note).model_dump()
        query = {_ID: cid, _STATE: str(source), K.RELAX.value: {"$exists": True}}
        update = {
            "$set": {_STATE: str(target), K.UPDATED_AT.value: now},
            "$unset": {K.REJECT_REASON.value: "", K.RELAX.value: ""},
            "$push": {K.HISTORY.value: entry},
        }
        result = retry_call(
            lambda q=query, u=update: collection.update_one(q, u), what="reopen for a rerun"
        )
        if result.modified_count:
            reopened.append(cid)
    return reopened
