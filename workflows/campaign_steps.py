"""What the campaign jobs do: sample/import, gate, and record + score relax results.

Plain functions called by the Makers in :mod:`genflow.workflows.campaign`, so each ``make``
reads like a recipe. They open the store from the worker's settings and write idempotently
(see :mod:`genflow.campaign_db`).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from genflow.campaign_db import open_stores
from genflow.candidate import Candidate, CandidateState, DFTResult
from genflow.candidates_repo import StateUpdate, insert_candidates, record_scores, update_states
from genflow.hull.loaders import MP_COMPATIBLE_HULLS
from genflow.hull.names import score_key as hull_key  # shim: use genflow.hull.names.score_key

__all__ = [
    "MP_COMPATIBLE_HULLS",
    "extract_result",
    "hull_key",
    "import_structures",
    "relax_outputs",
    "sample_candidates",
    "score_candidates",
]

# Hulls built from MP2020-compatible energies: GPAW energies are refused on them unless forced.


# -- generate ----------------------------------------------------------------------------------


def sample_candidates(campaign: str, conditions: list[dict], checkpoint: str | None) -> list[str]:
    """Sample every condition with the generator, bulk-insert candidates, return their ids."""
    from genflow.model import load_generator

    generator = load_generator(checkpoint)
    candidates = []
    for cond in conditions:
        composition = cond.get("composition")
        structures = generator.sample(
            int(cond["n_samples"]), composition=composition, seed=int(cond["seed"])
        )
        prov = {**generator.provenance, "conditioning": {"composition": composition}}
        candidates += [
            Candidate.from_structure(s, campaign, prov, seed=int(cond["seed"]), index=i)
            for i, s in enumerate(structures)
        ]
    with open_stores() as stores:
        insert_candidates(stores.candidates, candidates)
    return [c.candidate_id for c in candidates]


def _parse(name: str, text: str) -> list[Any]:
    """Parse one file's text into structures (CIF, pymatgen JSON, extxyz) by its suffix."""
    import io
    import json
    import warnings

    from pymatgen.core import Structure

    suffix = Path(name).suffix.lower()
    if suffix == ".vasp" or Path(name).name.upper().startswith(("POSCAR", "CONTCAR")):
        from pymatgen.io.vasp import Poscar

        return [Poscar.from_str(text).structure]
    if suffix == ".json":
        data = json.loads(text)
        return [Structure.from_dict(d) for d in (data if isinstance(data, list) else [data])]
    if suffix in (".extxyz", ".xyz"):
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = read(io.StringIO(text), format="extxyz", index=":")
        return [AseAtomsAdaptor.get_structure(a) for a in atoms]
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CifParser warns per issue; the error says enough
        structures = CifParser(io.StringIO(text)).parse_structures(primitive=False)
    if not structures:
        raise ValueError("no structure could be read")
    return structures


def _unknown_elements(structure: Any) -> list[str]:
    """Symbols that are not chemical elements (pymatgen reads 'Xx' as a DummySpecies)."""
    from pymatgen.core import Element

    symbols = {getattr(sp, "symbol", str(sp)) for sp in structure.composition}
    return sorted(s for s in symbols if not Element.is_valid_symbol(s))


def import_structures(campaign: str, sources: list[dict]) -> list[str]:
    """Insert the structures of each source file; unreadable ones become rejected rows.

    Parameters
    ----------
    campaign
        Campaign name.
    sources
        ``{"name": file name, "text": content}``; the suffix picks the parser
        (``.cif`` default, ``.json`` pymatgen dicts, ``.extxyz``, ``POSCAR*``/``.vasp``).
    """
    candidates = []
    for src in sources:
        name, text = src["name"], src["text"]
        prov = {
            "model_name": "import",
            "checkpoint_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
            "conditioning": {"source": name},
        }
        try:
            structures = _parse(name, text)
        except Exception as err:  # any parser failure is this file's reason, not the batch's
            kind = Path(name).suffix.lstrip(".").upper() or "input"
            reason = f"parse: {name}: malformed {kind}: {type(err).__name__}: {err}".strip()
            candidates.append(Candidate.from_invalid_input(text, campaign, prov, 0, 0, reason))
            continue
        for i, structure in enumerate(structures):
            unknown = _unknown_elements(structure)
            if unknown:
                reason = f"elements: {name}: unknown element(s) {', '.join(unknown)}"
                candidates.append(Candidate.from_invalid_input(text, campaign, prov, 0, i, reason))
            else:
                candidates.append(Candidate.from_structure(structure, campaign, prov, 0, i))
    with open_stores() as stores:
        insert_candidates(stores.candidates, candidates)
    return [c.candidate_id for c in candidates]


# -- gate --------------------------------------------------------------------------------------

_LATE_STAGES = ("prerelax", "prescreen")  # rejected after passing the cheap checks


def gate_candidates(
    campaign: str,
    candidate_ids: list[str],
    *,
    min_distance: float = 0.5,
    smact: bool = True,
    dedupe: bool = True,
    novelty: bool = True,
    prescreen: bool = True,
    prescreen_max_ed: float | None = None,
    hull: str = "mp2021",
) -> dict:
    """Run ``genflow.workflows.gate.run_gate`` on a batch and write every decision.

    Rejections are stored as ``"<stage>: <reason>"`` (``validity``, ``smact``,
    ``duplicate``, ``novelty``, ``prerelax``, ``prescreen``); survivors become ``gated`` and,
    with ``prescreen``, ``prerelaxed`` with their CHGNet result. A rerun of the job (lost-run
    rerun) keeps the decisions already stored.

    Returns
    -------
    dict
        ``n_in``, ``n_rejected``, ``reasons`` (stage → count) and ``survivors``
        (id → structure dict, the pre-relaxed one when ``prescreen``).
    """
    from genflow.workflows.dedupe import earlier_candidates_filter
    from genflow.workflows.gate import run_gate

    with open_stores() as stores:
        coll = stores.candidates
        docs = {
            d["candidate_id"]: Candidate.from_mongo(d)
            for d in coll.find({"candidate_id": {"$in": list(candidate_ids)}})
        }
        todo = [c for c in docs.values() if c.state == CandidateState.GENERATED]
        stored = None
        if dedupe and todo:
            formulas = {c.reduced_formula for c in todo}
            query = earlier_candidates_filter(formulas, exclude_ids=[c.candidate_id for c in todo])
            query["gate.valid"] = {"$ne": False}  # broken cells (NaN, overlaps) match nothing
            # Stored lattice fingerprints let the dedupe index skip parsing and reducing
            # every earlier cell of a crowded chemistry (see genflow.workflows.fingerprint).
            stored = [
                (d["candidate_id"], d["structure"], (d.get("gate") or {}).get("fingerprint"))
                for d in coll.find(query)
            ]
        records = run_gate(
            [(c.candidate_id, c.structure) for c in todo],
            min_distance=min_distance,
            smact=smact,
            dedupe=dedupe,
            stored=stored,
            references=_references(hull) if novelty else None,
            prerelax=prescreen,
            hull=hull if prescreen else None,
            max_e_d=prescreen_max_ed,
        )
        update_states(coll, [u for rec in records for u in _gate_updates(rec)])
        # Re-read so a rerun reports the decisions stored by the earlier, lost run too.
        final = {
            d["candidate_id"]: Candidate.from_mongo(d)
            for d in coll.find({"candidate_id": {"$in": list(candidate_ids)}})
        }
    survivors, reasons = {}, {}
    for cid in candidate_ids:
        cand = final.get(cid)
        if cand is None:
            continue
        if cand.state == CandidateState.REJECTED and cand.dft is None:
            code = (cand.reject_reason or "rejected").split(":", 1)[0]
            reasons[code] = reasons.get(code, 0) + 1
        elif cand.state in (CandidateState.GATED, CandidateState.PRERELAXED):
            prerelaxed = cand.mlip.structure if cand.mlip is not None else None
            survivors[cid] = prerelaxed or cand.structure
    return {
        "n_in": len(candidate_ids),
        "n_rejected": sum(reasons.values()),
        "reasons": reasons,
        "survivors": survivors,
    }


def _references(hull: str) -> Any:
    """Reference structures of the hull for novelty, or None when it carries none.

    The bundled ``mp2021`` hull holds energies only, so novelty stays unknown (None).
    """
    from genflow.hull import load_hull

    return getattr(load_hull(hull), "structures", None) or None


def _gate_updates(rec: Any) -> list[StateUpdate]:
    """State updates for one ``GateRecord`` (ordered: gated before prerelaxed/rejected)."""
    gate = {k: v for k, v in rec.gate_doc().items() if k not in ("stage", "reason")}
    mlip = None
    if rec.prerelax is not None and rec.prerelax.error is None:
        mlip = {
            "model": rec.prerelax.forcefield or "CHGNet",
            "energy_per_atom": rec.prerelax.energy_per_atom,
            "e_d": rec.e_d,
            "hull": rec.hull,
            "structure": rec.prerelax.structure.as_dict(),
            "converged": rec.prerelax.converged,
            "n_steps": rec.prerelax.n_steps,
        }
    if rec.passed:
        updates = [StateUpdate(rec.key, CandidateState.GATED, {"gate": gate})]
        if mlip is not None:
            updates.append(StateUpdate(rec.key, CandidateState.PRERELAXED, {"mlip": mlip}))
        return updates
    reject = {"reject_reason": f"{rec.stage}: {rec.reason}", "gate": gate}
    if mlip is not None:
        reject["mlip"] = mlip
    if rec.stage in _LATE_STAGES:
        return [
            StateUpdate(rec.key, CandidateState.GATED, {"gate": gate}),
            StateUpdate(rec.key, CandidateState.REJECTED, reject, note=rec.stage),
        ]
    return [StateUpdate(rec.key, CandidateState.REJECTED, reject, note=rec.stage)]


# -- relax results -----------------------------------------------------------------------------


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


def extract_result(engine: str, doc: Any, task_uuid: str | None, uuids: list[str]) -> DFTResult:
    """Turn the engine's final task document into a ``DFTResult`` (eV/atom).

    Energies come from ``genflow.workflows.relax.mp_compatible_energy``: VASP through
    ``MaterialsProject2020Compatibility``, CHGNet as is (fitted to MP2020 energies), GPAW
    flagged as not MP-compatible. A missing document (failed or fizzled job) is an error row.
    """
    from genflow.workflows.relax import mp_compatible_energy

    base = {"engine": engine, "task_uuid": task_uuid, "task_uuids": uuids}
    if doc is None:
        return DFTResult(
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
        return DFTResult(**base, converged=converged, error=f"unreadable task document: {err}")
    finite = math.isfinite(energy.energy_per_atom)
    return DFTResult(
        **base,
        energy_per_atom=energy.energy_per_atom if finite else None,
        mp_compatible=energy.mp_compatible,
        converged=converged,
        structure=structure.as_dict() if structure is not None else None,
        error=None if finite else f"non-finite energy {energy.energy_per_atom}",
        compatibility_note=energy.reason,
        correction_per_atom=energy.correction_per_atom,
    )


# -- score -------------------------------------------------------------------------------------


def score_candidates(
    campaign: str,
    results: dict[str, dict],
    *,
    hulls: list[str],
    engine: str,
    force: bool = False,
    hit_threshold: float | None = None,
) -> dict:
    """Record relax results (→ relaxed, or rejected with the reason) and score (→ scored).

    Returns
    -------
    dict
        ``scored``/``failed`` counts, ``failures`` (id → reason), ``hits`` (hull → ids),
        ``refused`` hulls (GPAW energies on MP-compatible hulls without ``force``).
    """
    from genflow.settings import get_settings

    threshold = get_settings().HIT_THRESHOLD if hit_threshold is None else hit_threshold
    dft = {
        cid: extract_result(engine, r.get("output"), r.get("task_uuid"), r.get("uuids") or [])
        for cid, r in results.items()
    }
    failures = {
        cid: f"relax_failed: {engine}: {d.error}"
        for cid, d in dft.items()
        if d.energy_per_atom is None
    }
    ok = [cid for cid in dft if cid not in failures]
    # Energies not in the MP2020 scheme (GPAW, other force fields) are refused on MP-like hulls.
    incompatible = {cid for cid in ok if not dft[cid].mp_compatible}
    refused = [h for h in hulls if h in MP_COMPATIBLE_HULLS and incompatible and not force]
    with open_stores() as stores:
        coll = stores.candidates
        updates = [
            StateUpdate(
                cid, CandidateState.REJECTED, {"reject_reason": r, "dft": dft[cid].model_dump()}
            )
            for cid, r in failures.items()
        ]
        updates += [
            StateUpdate(
                cid,
                CandidateState.RELAXED,
                {"dft": dft[cid].model_dump()},
                note=None if dft[cid].converged else "not converged",
            )
            for cid in ok
        ]
        update_states(coll, updates)
        formulas = {
            d["candidate_id"]: d["formula"]
            for d in coll.find({"candidate_id": {"$in": ok}}, {"candidate_id": 1, "formula": 1})
        }
        scores: dict[str, dict[str, Any]] = {cid: {} for cid in ok}
        for name in hulls:
            key = hull_key(name)
            todo = [cid for cid in ok if not (name in refused and cid in incompatible)]
            for cid in set(ok) - set(todo):
                scores[cid][key] = {
                    "error": f"refused: {engine} energies are not MP2020-compatible "
                    f"({dft[cid].compatibility_note}); not scored against {name} "
                    "(set score.force to override)"
                }
            if not todo:
                continue
            from genflow.hull import load_hull

            hull = load_hull(name)
            energies = [dft[cid].energy_per_atom for cid in todo]
            for cid, score in zip(
                todo, hull.score([formulas[c] for c in todo], energies), strict=True
            ):
                scores[cid][key] = score
        if hulls:  # no hulls: record the relax results only (candidates stay `relaxed`)
            record_scores(coll, scores, hit_threshold=threshold)
        hit_docs = coll.find({"candidate_id": {"$in": ok}}, {"candidate_id": 1, "hit_hulls": 1})
        hits: dict[str, list[str]] = {}
        for doc in hit_docs:
            for hull in doc.get("hit_hulls") or []:
                hits.setdefault(hull, []).append(doc["candidate_id"])
    return {
        "scored": len(ok),
        "failed": len(failures),
        "failures": failures,
        "hits": hits,
        "refused": refused,
    }
