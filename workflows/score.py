"""What the score job does: record each relax result on its candidate, score on the hulls, then
judge the relaxed cells (novelty, uniqueness, structure type: ``workflows.verdicts``).

A relax+static flow's final task document becomes a :class:`~genflow.core.candidates.RelaxDoc`
(energy on the MP2020 scale where the engine allows it); failures are rejected rows with the
reason, as the MatterGen evaluator counts failed jobs. Scores go through
``genflow.hull.ReferenceHull.score`` and ``genflow.core.candidates.record_scores``; hull rounds
(``genflow.hull.rounds.fold``) return their re-scores, written here by
``genflow.core.candidates.record_rescores``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import (
    CandidateState,
    RelaxDoc,
    StateUpdate,
    by_ids,
    record_rescores,
    record_scores,
    score_key,
    update_states,
)
from genflow.core.candidates import hit_threshold as resolve_threshold
from genflow.core.retry import retry_call
from genflow.hull.loaders import MP_COMPATIBLE_HULLS

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["fold_round", "record_and_score", "relax_doc", "relax_outputs"]


def relax_outputs(flow: Any) -> dict:
    """What the score job needs from one relax+static flow: its output and job uuids."""
    output = flow.output
    return {
        "output": output,
        "task_uuid": getattr(output, "uuid", None),
        "uuids": [j.uuid for j, _ in flow.iterflow()],  # jobs only, not nested flow ids
    }


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def _structure(obj: Any) -> Any:
    from pymatgen.core import Structure

    if obj is None or isinstance(obj, Structure):
        return obj
    return Structure.from_dict(obj)


def relax_doc(engine: str, doc: Any, task_uuid: str | None, uuids: list[str]) -> RelaxDoc:
    """Turn the engine's final task document into a ``RelaxDoc`` (eV/atom).

    Energies come from ``genflow.workflows.energies.mp_compatible_energy``: VASP through
    ``MaterialsProject2020Compatibility``, CHGNet as is (fitted to MP2020 energies), GPAW
    flagged as not MP-compatible. A missing document (failed or fizzled job) is an error row.
    """
    from genflow.workflows.energies import mp_compatible_energy

    base = {"engine": engine, "task_uuid": task_uuid, "task_uuids": uuids}
    if doc is None:
        return RelaxDoc(
            **base, converged=False, error="relax/static produced no output (job failed)"
        )
    structure = _structure(_get(doc, "output", "structure") or _get(doc, "structure"))
    if engine == "vasp":
        converged = str(_get(doc, "state")).lower().endswith("successful")
    else:
        converged = _get(doc, "is_force_converged") is not False
    try:
        energy = mp_compatible_energy(doc, engine)
    except (ValueError, KeyError, TypeError) as err:
        return RelaxDoc(**base, converged=converged, error=f"unreadable task document: {err}")
    finite = math.isfinite(energy.energy_per_atom)
    return RelaxDoc(
        **base,
        energy_per_atom=energy.energy_per_atom if finite else None,
        mp_compatible=energy.mp_compatible,
        converged=converged,
        structure=structure.as_dict() if structure is not None else None,
        error=None if finite else f"non-finite energy {energy.energy_per_atom}",
        compatibility_note=energy.reason,
        correction_per_atom=energy.correction_per_atom,
        potcar_scale=energy.potcar_scale,
        pp_offsets=energy.pp_offsets,
    )


def _record_relax(stores: GenflowStores, relaxed: dict[str, RelaxDoc], engine: str) -> list[str]:
    """Write relax results (→ relaxed, or rejected with the reason); return the usable ids."""
    failures = {
        cid: f"relax_failed: {engine}: {d.error}"
        for cid, d in relaxed.items()
        if d.energy_per_atom is None
    }
    updates = [
        StateUpdate(
            cid, CandidateState.REJECTED, {K.REJECT_REASON: r, K.RELAX: relaxed[cid].model_dump()}
        )
        for cid, r in failures.items()
    ]
    ok = [cid for cid in relaxed if cid not in failures]
    updates += [
        StateUpdate(
            cid,
            CandidateState.RELAXED,
            {K.RELAX: relaxed[cid].model_dump()},
            note=None if relaxed[cid].converged else "not converged",
        )
        for cid in ok
    ]
    update_states(stores.candidates, updates)
    return ok


def record_and_score(
    stores: GenflowStores,
    results: dict[str, dict],
    *,
    hulls: list[str],
    engine: str,
    force: bool = False,
    hit_threshold: float | None = None,
    audit: bool = False,
    force_field: str = "CHGNet",
    rounds: bool = False,
    implausible_below: float | None = None,
) -> dict:
    """Record relax results (→ relaxed, or rejected with the reason) and score (→ scored).

    A score with E_d below ``implausible_below`` (eV/atom; None: the ``IMPLAUSIBLE_E_D``
    setting) is stored but marked implausible (``genflow.hull.records.apply_window``, as
    ``genflow hull score`` does), the reason in its ``scored`` history note: never a hit.

    Returns
    -------
    dict
        ``scored``/``failed`` counts, ``failures`` (id → reason), ``implausible`` (id →
        reason), ``hits`` (hull → ids),
        ``refused`` hulls (GPAW energies on MP-compatible hulls without ``force``),
        ``audits`` (hull → ``hit_audit.audit_hits`` summary) and ``rounds`` (hull →
        ``hull.rounds.fold`` summary) when asked for, ``novelty`` (verdict → count) and
        ``duplicates`` (id → the earlier candidate it relaxed into) of the relaxed cells
        (``workflows.verdicts``).
    """
    from genflow.hull.records import apply_window, implausible_reason, implausible_window
    from genflow.hull.rounds import load_latest
    from genflow.hull.scheme import to_potcar_scale

    threshold = resolve_threshold(hit_threshold)
    below = implausible_window(implausible_below)
    relaxed = {
        cid: relax_doc(engine, r.get("output"), r.get("task_uuid"), r.get("uuids") or [])
        for cid, r in results.items()
    }
    ok = _record_relax(stores, relaxed, engine)
    failures = {
        cid: f"relax_failed: {engine}: {d.error}" for cid, d in relaxed.items() if cid not in ok
    }
    # Energies not in the MP2020 scheme (GPAW) are refused on MP-like hulls unless forced.
    incompatible = {cid for cid in ok if not relaxed[cid].mp_compatible}
    refused = [h for h in hulls if h in MP_COMPATIBLE_HULLS and incompatible and not force]
    coll = stores.candidates
    formulas = {
        d[K.CANDIDATE_ID]: d[K.FORMULA]
        for d in retry_call(
            lambda: list(coll.find(by_ids(ok), [K.CANDIDATE_ID.value, K.FORMULA.value])),
            what="read formulas",
        )
    }
    scores: dict[str, dict[str, Any]] = {cid: {} for cid in ok}
    implausible: dict[str, list[str]] = {}
    for name in hulls:
        key = score_key(name)
        todo = [cid for cid in ok if not (name in refused and cid in incompatible)]
        for cid in set(ok) - set(todo):
            scores[cid][key] = {
                "error": f"refused: {engine} energies are not MP2020-compatible "
                f"({relaxed[cid].compatibility_note}); not scored against {name} "
                "(set score.force to override)"
            }
        if not todo:
            continue
        hull, round_no = load_latest(stores, name)  # round 0: the reference itself
        # every RelaxDoc energy is on MP's POTCAR scale; a GNoME-scale hull gets Eq. PP added
        energies = [
            to_potcar_scale(relaxed[c].energy_per_atom, formulas[c], hull.potcar_scale)
            for c in todo
        ]
        hull_scores = hull.score([formulas[c] for c in todo], energies)
        for cid, score in zip(todo, hull_scores, strict=True):
            score = apply_window(score, below)
            if score.implausible:
                implausible.setdefault(cid, []).append(f"{key}: {implausible_reason(score, below)}")
            scores[cid][key] = {**dataclasses.asdict(score), "round": round_no}
    notes = {cid: "; ".join(why) for cid, why in implausible.items()}
    if hulls:  # no hulls: record the relax results only (candidates stay `relaxed`)
        record_scores(coll, scores, hit_threshold=threshold, notes=notes)
    # novelty and uniqueness of the relaxed cells (hits also get their structure type); a
    # candidate that relaxed into an earlier one's crystal loses its hit flags here
    from genflow.workflows.verdicts import judge_relaxed

    verdicts = judge_relaxed(stores, ok, hulls=hulls, hit_threshold=threshold)
    audits, folds = {}, {}
    for name in hulls if audit else []:
        from genflow.workflows.hit_audit import audit_hits

        audits[name] = audit_hits(
            stores, name, candidate_ids=ok, force_field=force_field, max_ed=threshold
        )
    for name in hulls if rounds else []:
        folds[name] = fold_round(stores, name, hit_threshold=threshold)
    hit_docs = retry_call(
        lambda: list(coll.find(by_ids(ok), [K.CANDIDATE_ID.value, K.HIT_HULLS.value])),
        what="read hits",
    )
    hits: dict[str, list[str]] = {}
    for doc in hit_docs:
        for hull in doc.get(K.HIT_HULLS) or []:
            hits.setdefault(hull, []).append(doc[K.CANDIDATE_ID])
    return {
        "scored": len(ok),
        "failed": len(failures),
        "failures": failures,
        "implausible": notes,
        "hits": hits,
        "refused": refused,
        "audits": audits,
        "rounds": folds,
        "novelty": _tally(v.novelty for v in verdicts.values()),
        "duplicates": {cid: v.duplicate_of for cid, v in verdicts.items() if v.duplicate_of},
    }


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def fold_round(
    stores: GenflowStores,
    hull: str,
    *,
    campaign: str | None = None,
    hit_threshold: float | None = None,
) -> dict:
    """Fold stable hits into the next round of ``hull`` and record the re-scores.

    ``genflow.hull.rounds.fold`` scores and returns; this writes its re-scores (hits
    re-marked below ``hit_threshold`` eV/atom, default ``settings.HIT_THRESHOLD``).

    Returns
    -------
    dict
        ``round``, ``folded`` ids and ``rescored`` count.
    """
    from genflow.hull.rounds import fold

    out = fold(stores, hull, campaign=campaign)
    record_rescores(
        stores.candidates, out.pop("rescores"), hit_threshold=resolve_threshold(hit_threshold)
    )
    return out
