"""What the campaign jobs do: sample/import, gate, and record + score relax results.

Plain functions called by the Makers in :mod:`genflow.workflows.campaign`, so each ``make``
reads like a recipe. They open the store from the worker's settings and write idempotently
(see :mod:`genflow.campaign_db`).
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

from genflow.campaign_db import open_stores
from genflow.candidate import Candidate, CandidateState, DFTResult
from genflow.candidates_repo import StateUpdate, insert_candidates, record_scores, update_states

__all__ = [
    "MP_COMPATIBLE_HULLS",
    "extract_result",
    "import_structures",
    "relax_outputs",
    "sample_candidates",
    "score_candidates",
]

# Hulls built from MP2020-compatible energies: GPAW energies are refused on them unless forced.
MP_COMPATIBLE_HULLS = frozenset({"mp2021", "gnome"})


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
            kind = Path(name).suffix.lstrip(".").lower() or "input"
            reason = f"malformed_{kind}: {name}: {type(err).__name__}: {err}".strip()
            candidates.append(Candidate.from_invalid_input(text, campaign, prov, 0, 0, reason))
            continue
        for i, structure in enumerate(structures):
            unknown = _unknown_elements(structure)
            if unknown:
                reason = f"unknown_element: {name}: {', '.join(unknown)}"
                candidates.append(Candidate.from_invalid_input(text, campaign, prov, 0, i, reason))
            else:
                candidates.append(Candidate.from_structure(structure, campaign, prov, 0, i))
    with open_stores() as stores:
        insert_candidates(stores.candidates, candidates)
    return [c.candidate_id for c in candidates]


# -- gate --------------------------------------------------------------------------------------


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
    """Gate a batch and write each decision; return the survivors' structures.

    Order: structure validity → SMACT → duplicates (batch and store) → novelty → CHGNet
    pre-relax and pre-screen. The first failed check is the candidate's reject reason
    (``"<check>: <detail>"``); passing candidates become ``gated`` (then ``prerelaxed``).

    Returns
    -------
    dict
        ``n_in``, ``n_rejected``, ``reasons`` (check → count) and ``survivors``
        (id → structure dict, pre-relaxed when ``prescreen``).
    """
    from genflow.model.validity import smact_validity, structure_validity

    with open_stores() as stores:
        coll = stores.candidates
        docs = {
            d["candidate_id"]: Candidate.from_mongo(d)
            for d in coll.find({"candidate_id": {"$in": list(candidate_ids)}})
        }
        todo = [
            docs[c]
            for c in candidate_ids
            if c in docs and docs[c].state == CandidateState.GENERATED
        ]
        done = [
            docs[c]
            for c in candidate_ids
            if c in docs and docs[c].state != CandidateState.GENERATED
        ]
        rejected: dict[str, str] = {}
        results: dict[str, dict] = {}
        structures = {}
        for cand in todo:
            structure = cand.pmg_structure()
            ok, why = structure_validity(structure, min_distance=min_distance)
            results[cand.candidate_id] = {"valid": ok, "validity_reason": why}
            if not ok:
                rejected[cand.candidate_id] = f"invalid_structure: {why}"
                continue
            if smact:
                smact_ok = bool(smact_validity(structure.composition))
                results[cand.candidate_id]["smact_valid"] = smact_ok
                if not smact_ok:
                    rejected[cand.candidate_id] = (
                        f"smact: {structure.composition.reduced_formula} is not charge neutral "
                        "with allowed oxidation states (or fails the electronegativity test)"
                    )
                    continue
            structures[cand.candidate_id] = structure
        if dedupe and structures:
            for cid, (other, why) in _duplicates(coll, campaign, structures).items():
                results[cid]["duplicate_of"] = other
                rejected[cid] = f"duplicate: {why}"
                structures.pop(cid)
        if novelty and structures:
            for cid, (match, why) in _known(structures, hull).items():
                results[cid].update(novel=False, novelty_match=match)
                rejected[cid] = f"not_novel: {why}"
                structures.pop(cid)
        updates = [
            StateUpdate(cid, CandidateState.REJECTED, {"reject_reason": r, "gate": results[cid]})
            for cid, r in rejected.items()
        ]
        updates += [
            StateUpdate(cid, CandidateState.GATED, {"gate": results[cid]}) for cid in structures
        ]
        update_states(coll, updates)
        survivors = {cid: s.as_dict() for cid, s in structures.items()}
        if prescreen and structures:
            survivors, screened = _prerelax(coll, structures, hull, prescreen_max_ed)
            rejected.update(screened)
    # A rerun of the gate job keeps the decisions already stored for this batch.
    for cand in done:
        if cand.state == CandidateState.REJECTED:
            rejected.setdefault(cand.candidate_id, cand.reject_reason or "rejected")
        elif cand.state in (CandidateState.GATED, CandidateState.PRERELAXED):
            mlip = cand.mlip.structure if cand.mlip and cand.mlip.structure else None
            survivors[cand.candidate_id] = mlip or cand.structure
    reasons: dict[str, int] = {}
    for why in rejected.values():
        code = why.split(":", 1)[0]
        reasons[code] = reasons.get(code, 0) + 1
    return {
        "n_in": len(candidate_ids),
        "n_rejected": len(rejected),
        "reasons": reasons,
        "survivors": survivors,
    }


def _duplicates(coll: Any, campaign: str, structures: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Duplicates within the batch and of every stored candidate (all campaigns).

    ``genflow.workflows.dedupe``: StructureMatcher behind formula and reduced-cell prefilters,
    against only the stored candidates that share a reduced formula.
    """
    from genflow.workflows.dedupe import earlier_candidates_filter, find_duplicates

    formulas = {s.composition.reduced_formula for s in structures.values()}
    query = earlier_candidates_filter(formulas, exclude_ids=structures)
    stored_docs = list(coll.find(query, {"candidate_id": 1, "structure": 1, "campaign": 1}))
    where = {d["candidate_id"]: d["campaign"] for d in stored_docs}
    stored = [(d["candidate_id"], d["structure"]) for d in stored_docs]
    out = {}
    for res in find_duplicates(list(structures.items()), stored):
        if res.is_duplicate:
            origin = "this batch" if res.against == "batch" else f"campaign {where[res.duplicate_of]}"
            formula = structures[res.key].composition.reduced_formula
            out[res.key] = (res.duplicate_of, f"{formula} matches {res.duplicate_of} ({origin})")
    return out


def _known(structures: dict[str, Any], hull: str) -> dict[str, tuple[str, str]]:
    """Novelty against the hull's reference structures, when the hull carries any.

    The bundled ``mp2021`` hull has energies but no structures: nothing is rejected and
    ``gate.novel`` stays None (unknown) rather than claiming novelty.
    """
    from genflow.hull import load_hull
    from genflow.workflows.dedupe import check_novelty

    references = getattr(load_hull(hull), "structures", None)
    if not references:
        return {}
    out = {}
    for res in check_novelty(list(structures.items()), references):
        if res.novel is False:
            formula = structures[res.key].composition.reduced_formula
            out[res.key] = (res.match, f"{formula} matches {hull} entry {res.match}")
    return out


def _prerelax(
    coll: Any, structures: dict[str, Any], hull: str, max_ed: float | None
) -> tuple[dict[str, dict], dict[str, str]]:
    """CHGNet pre-relax of every survivor (one model load), then the E_d pre-screen.

    Uses atomate2's ``AseRelaxer`` with the calculator of ``relax.MLIPRelaxMaker`` (CHGNet on
    one torch thread). Returns (survivors id → pre-relaxed structure dict, rejections).
    """
    from atomate2.ase.utils import AseRelaxer
    from genflow.hull import load_hull
    from genflow.workflows.relax import MLIPRelaxMaker

    from genflow.candidate import MLIPResult

    maker = MLIPRelaxMaker()
    relaxer = AseRelaxer(maker._get_calculator(), relax_cell=True)
    relaxed, rejected, mlip = {}, {}, {}
    for cid, s in structures.items():
        try:
            res = relaxer.relax(s, fmax=0.1, steps=300, final_atoms_object_file=None)
            energy = float(res.final_energy) / len(s)
            if not math.isfinite(energy):
                raise ValueError(f"non-finite energy {energy}")
        except Exception as err:  # a crash on one structure is that candidate's reason
            rejected[cid] = f"prerelax_failed: {type(err).__name__}: {err}"
            continue
        relaxed[cid] = res.final_mol_or_struct
        mlip[cid] = {"model": maker.force_field_name, "energy_per_atom": energy, "hull": hull}
    if relaxed:
        ids = list(relaxed)
        comps = [relaxed[c].composition.formula for c in ids]
        scores = load_hull(hull).score(comps, [mlip[c]["energy_per_atom"] for c in ids])
        for cid, score in zip(ids, scores, strict=True):
            mlip[cid]["e_d"] = score.e_d
            mlip[cid]["structure"] = relaxed[cid].as_dict()
            if max_ed is not None and score.e_d is not None and score.e_d > max_ed:
                rejected[cid] = (
                    f"prescreen: CHGNet E_d {score.e_d:.3f} eV/atom > {max_ed} on {hull}"
                )
    updates = [
        StateUpdate(
            cid,
            CandidateState.REJECTED,
            {
                "reject_reason": why,
                **({"mlip": MLIPResult(**mlip[cid]).model_dump()} if cid in mlip else {}),
            },
        )
        for cid, why in rejected.items()
    ]
    survivors = {cid: relaxed[cid].as_dict() for cid in relaxed if cid not in rejected}
    updates += [
        StateUpdate(cid, CandidateState.PRERELAXED, {"mlip": MLIPResult(**mlip[cid]).model_dump()})
        for cid in survivors
    ]
    update_states(coll, updates)
    return survivors, rejected


# -- relax results -----------------------------------------------------------------------------


def relax_outputs(flow: Any) -> dict:
    """What the score job needs from one relax+static flow: its output and job uuids."""
    output = flow.output
    return {
        "output": output,
        "task_uuid": getattr(output, "uuid", None),
        "uuids": list(flow.all_uuids),
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


def _hull_key(name: str) -> str:
    key = Path(name).stem if ("/" in name or "." in name) else name
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)


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
    from genflow.hull import load_hull

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
            key = _hull_key(name)
            todo = [cid for cid in ok if not (name in refused and cid in incompatible)]
            for cid in set(ok) - set(todo):
                scores[cid][key] = {
                    "error": f"refused: {engine} energies are not MP2020-compatible "
                    f"({dft[cid].compatibility_note}); not scored against {name} "
                    "(set score.force to override)"
                }
            if not todo:
                continue
            hull = load_hull(name)
            energies = [dft[cid].energy_per_atom for cid in todo]
            for cid, score in zip(
                todo, hull.score([formulas[c] for c in todo], energies), strict=True
            ):
                scores[cid][key] = score
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
