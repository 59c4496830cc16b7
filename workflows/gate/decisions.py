"""The gate job's side of the store: read a batch, run the gate, write every decision.

Rejections are stored as ``"<stage>: <reason>"`` (``parse``, ``elements``, ``validity``,
``smact``, ``duplicate``, ``novelty``, ``prerelax``, ``prescreen``); survivors become ``gated``
and, with a pre-relax, ``prerelaxed`` with the MLIP result at ``prerelax``. A rerun of the job
(FireWorks lost-run rerun) keeps the decisions already stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genflow.core.candidates import (
    Candidate,
    CandidateState,
    StateUpdate,
    by_ids,
    get_path,
    update_states,
)
from genflow.core.candidates import CandidateKey as K
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores
    from genflow.workflows.gate.dedupe import StructureIndex
    from genflow.workflows.gate.records import GateRecord

__all__ = ["GateSummary", "gate_candidates", "novelty_mode"]

_LATE_STAGES = ("prerelax", "prescreen")
_GATE, _PRERELAX = K.GATE.value, K.PRERELAX.value  # rejected after passing the cheap checks

GateSummary = dict[str, Any]


def _load(stores: GenflowStores, ids: list[str]) -> dict[str, Candidate]:
    docs = retry_call(
        lambda: list(stores.candidates.find(by_ids(ids))), what="read the gate's batch"
    )
    return {d[K.CANDIDATE_ID]: Candidate.from_mongo(d) for d in docs}


def _stored_rows(stores: GenflowStores, todo: list[Candidate]) -> list[tuple]:
    """Earlier candidates of the batch's formulas, with their stored dedupe fingerprints."""
    from genflow.workflows.gate.dedupe import earlier_candidates, earlier_candidates_filter

    query = earlier_candidates_filter({c.reduced_formula for c in todo})
    found = retry_call(lambda: list(stores.candidates.find(query)), what="read earlier candidates")
    docs = earlier_candidates(found, exclude_ids=[c.candidate_id for c in todo])
    # Stored lattice fingerprints let the dedupe index skip parsing and reducing every
    # earlier cell of a crowded chemistry (see genflow.workflows.gate.fingerprint).
    return [(d[K.CANDIDATE_ID], d[K.STRUCTURE], get_path(d, K.GATE_FINGERPRINT)) for d in docs]


def gate_candidates(
    stores: GenflowStores,
    candidate_ids: list[str],
    *,
    min_distance: float = 0.5,
    smact: bool = True,
    dedupe: bool = True,
    dedupe_workers: int = 1,
    novelty: str | bool = "reject",
    prerelax: bool = True,
    prescreen_max_ed: float | None = None,
    hull: str = "mp2021",
    prerelax_model: str | None = None,
    prerelax_kwargs: dict | None = None,
    prerelax_method: str = "batched",
) -> GateSummary:
    """Run :func:`genflow.workflows.gate.run_gate` on a batch and write every decision.

    ``novelty`` is ``"reject"``, ``"flag"`` or ``"off"`` (``True``/``False`` mean reject/off):
    the batch meets the reference structures of its formulas: the bundled set and the
    ``references`` collection (:func:`genflow.workflows.references.reference_index`).

    Returns
    -------
    dict
        ``n_in``, ``n_rejected``, ``reasons`` (stage → count) and ``survivors``
        (id → structure dict, the pre-relaxed one after a pre-relax).
    """
    from genflow.workflows.gate.run import run_gate

    ids = list(candidate_ids)
    todo = [c for c in _load(stores, ids).values() if c.state == CandidateState.GENERATED]
    mode = novelty_mode(novelty)
    references = _references(stores, todo) if mode != "off" and todo else None
    records = run_gate(
        [(c.candidate_id, c.structure) for c in todo],
        min_distance=min_distance,
        smact=smact,
        dedupe=dedupe,
        dedupe_workers=dedupe_workers,
        stored=_stored_rows(stores, todo) if dedupe and todo else None,
        references=references,
        novelty=mode,
        prerelax=prerelax,
        hull=hull if prerelax else None,
        max_e_d=prescreen_max_ed,
        prerelax_model=prerelax_model,
        prerelax_kwargs=prerelax_kwargs,
        prerelax_method=prerelax_method,
    )
    update_states(stores.candidates, [u for rec in records for u in _gate_updates(rec)])
    if references is not None:
        from genflow.workflows.references import store_fingerprints

        store_fingerprints(stores.references, references)
    # Re-read so a rerun reports the decisions stored by the earlier, lost run too.
    return _summary(ids, _load(stores, ids))


def _summary(ids: list[str], final: dict[str, Candidate]) -> GateSummary:
    survivors, reasons, flagged = {}, {}, 0
    for cid in ids:
        cand = final.get(cid)
        if cand is None:
            continue
        known = cand.gate is not None and cand.gate.novel is False
        flagged += known and cand.state != CandidateState.REJECTED
        if cand.state == CandidateState.REJECTED and cand.relax is None:
            code = (cand.reject_reason or "rejected").split(":", 1)[0]
            reasons[code] = reasons.get(code, 0) + 1
        elif cand.state in (CandidateState.GATED, CandidateState.PRERELAXED):
            prerelaxed = cand.prerelax.structure if cand.prerelax is not None else None
            survivors[cid] = prerelaxed or cand.structure
    return {
        "n_in": len(ids),
        "n_rejected": sum(reasons.values()),
        "reasons": reasons,
        "n_flagged_known": flagged,
        "survivors": survivors,
    }


def novelty_mode(value: str | bool | None) -> str:
    """``"reject"``, ``"flag"`` or ``"off"`` from a spec value (``True``/``False`` too)."""
    from genflow.workflows.gate.uniqueness import NOVELTY_MODES

    if value is True or value is None:
        return "reject"
    if value is False:
        return "off"
    if value not in NOVELTY_MODES:
        raise ValueError(f"gate.novelty {value!r}: want one of {', '.join(NOVELTY_MODES)}")
    return str(value)


def _references(stores: GenflowStores, todo: list[Candidate]) -> StructureIndex:
    """Reference structures of the batch's formulas (bundled + ``references``), indexed."""
    from genflow.workflows.references import reference_index

    return reference_index({c.reduced_formula for c in todo}, stores.references)


def _gate_updates(rec: GateRecord) -> list[StateUpdate]:
    """State updates for one ``GateRecord`` (ordered: gated before prerelaxed/rejected)."""
    gate = {k: v for k, v in rec.gate_doc().items() if k not in ("stage", "reason")}
    prerelax = None
    if rec.prerelax is not None and rec.prerelax.error is None:
        prerelax = {
            "model": rec.prerelax.forcefield,
            "correction_per_atom": rec.prerelax.correction_per_atom,
            "method": rec.prerelax.method,
            "energy_per_atom": rec.prerelax.energy_per_atom,
            "e_d": rec.e_d,
            "hull": rec.hull,
            "structure": rec.prerelax.structure.as_dict(),
            "converged": rec.prerelax.converged,
            "n_steps": rec.prerelax.n_steps,
        }
    if rec.passed:
        updates = [StateUpdate(rec.key, CandidateState.GATED, {_GATE: gate})]
        if prerelax is not None:
            updates.append(StateUpdate(rec.key, CandidateState.PRERELAXED, {_PRERELAX: prerelax}))
        return updates
    reject = {K.REJECT_REASON.value: f"{rec.stage}: {rec.reason}", _GATE: gate}
    if prerelax is not None:
        reject[_PRERELAX] = prerelax
    if rec.stage in _LATE_STAGES:
        return [
            StateUpdate(rec.key, CandidateState.GATED, {_GATE: gate}),
            StateUpdate(rec.key, CandidateState.REJECTED, reject, note=rec.stage),
        ]
    return [StateUpdate(rec.key, CandidateState.REJECTED, reject, note=rec.stage)]
