"""Verdicts on the relaxed structure: novel / known / unverified, unique or a duplicate, and
the structure type of every hit.

The gate judges the generated cell (a cheap filter: a P1 sample rarely matches anything).
After relaxation (MLIP or DFT) each candidate is matched again in its relaxed geometry:

* against the references of its reduced formula (the bundled set plus the ``references``
  collection, :func:`genflow.workflows.references.reference_docs`), with pymatgen's
  ``StructureMatcher`` behind the gate's :class:`~genflow.workflows.gate.dedupe.StructureIndex`;
* against every earlier relaxed candidate of that formula in the database (this campaign and
  earlier ones) and the earlier rows of its own batch: the first to relax into a crystal stays
  unique, a later one records ``duplicate_of`` and is no hit.

Novelty is one of three verdicts (:func:`novelty_verdict`):

``known``       a reference matches (``novelty_ref_id``, ``novelty_source``);
``novel``       ``novelty_compared`` reference structures of its formula from
                ``novelty_sources`` were compared and none matches, and no hull entry of the
                composition that was not compared looks like the same crystal;
``unverified``  no structure of the composition was compared but the hull holds the
                composition (``novelty_ref_id`` names its lowest entry) or no hull was
                asked; or the hull's entry was not among the structures compared and the
                energy lies within :data:`REDISCOVERY_EV` of it in a primitive cell of the
                entry's size ("probable rediscovery of mp-…"), or there is no energy.

A hull-vertex composition with no structure compared is never ``novel``. Space groups (before
and after relaxation) and the AFLOW prototype label are computed for hits only
(:func:`structure_type`; the prototype library is loaded once per process).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import (
    CandidateState,
    VerdictDoc,
    by_ids,
    get_path,
    record_verdicts,
    state_at_path,
)
from genflow.core.references import reference_key, split_reference_key
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores
    from genflow.hull.coverage import HullEntry

__all__ = [
    "ANGLE_TOLERANCE",
    "REDISCOVERY_EV",
    "SYMPREC",
    "judge_campaign",
    "judge_relaxed",
    "novelty_verdict",
    "relaxed_verdicts",
    "spacegroup_label",
    "structure_type",
]

#: |E(relaxed) - E(hull entry)| (eV/atom) within which a candidate of the entry's composition
#: and primitive-cell size is a probable rediscovery. MLIP energies scatter by tens of meV/atom
#: against PBE (CHGNet's MAE on MP is ~30 meV/atom), so a tighter window would miss the demo's
#: own rediscoveries (BaTiO3 at +9, KNbO3 at +12 meV/atom on mp2021).
REDISCOVERY_EV = 0.02
#: spglib tolerances for the space groups (Å, degrees): loose enough for MLIP-relaxed cells.
SYMPREC = 0.1
ANGLE_TOLERANCE = 5.0

_RELAXED_STATES = [str(CandidateState.RELAXED), str(CandidateState.SCORED)]


def novelty_verdict(
    formula: str,
    *,
    match: str | None,
    compared: int,
    compared_ids: Iterable[str] = (),
    sources: Sequence[str] = (),
    entry: HullEntry | None = None,
    hull: str | None = None,
    energy_per_atom: float | None = None,
    n_sites: int | None = None,
    geometry: str = "relaxed",
) -> dict[str, Any]:
    """The novelty verdict of one structure (see the module docstring) as ``VerdictDoc`` fields.

    Parameters
    ----------
    formula
        Its reduced formula.
    match
        ``source/ref_id`` of the matching reference, or None.
    compared, compared_ids
        How many reference structures of ``formula`` were compared, and their ids.
    sources
        The reference sources searched (the named set).
    entry, hull
        The hull's lowest entry of the composition (``hull.coverage.composition_entry``;
        None: the hull holds none) and the hull's name.
    energy_per_atom, n_sites
        Energy (eV/atom, on the hull's scale) and primitive-cell site count of the judged
        cell, for the probable-rediscovery test. Without an energy, a hull entry whose
        structure was not compared leaves the verdict ``unverified``.
    geometry
        Which cell was matched (``relaxed``, ``prerelaxed``, ``as given``), for the reason.
    """
    base = {"novelty_compared": int(compared), "novelty_sources": list(sources),
            "novelty_hull": hull}  # fmt: skip
    searched = f"{compared} reference structure(s) of {formula} from {', '.join(sources) or '-'}"
    if match is not None:
        source, ref_id = split_reference_key(match)
        return {**base, "novelty": "known", "novelty_ref_id": ref_id, "novelty_source": source,
                "novelty_reason": f"matches {ref_id} ({source}), {geometry} cell"}  # fmt: skip
    rediscovery = None
    if entry is not None and energy_per_atom is not None:
        close = abs(energy_per_atom - entry.energy_per_atom) <= REDISCOVERY_EV
        if close and (n_sites is None or n_sites == entry.n_sites):
            rediscovery = entry.ref_id
    unchecked = entry is not None and entry.ref_id not in set(compared_ids)
    if unchecked and (compared == 0 or rediscovery or energy_per_atom is None):
        what = "its vertex" if entry.on_hull else "an entry above the hull"
        why = (f"probable rediscovery of {entry.ref_id}: energy within "
               f"{REDISCOVERY_EV * 1000:.0f} meV/atom of it, same cell size; "
               if rediscovery else "")  # fmt: skip
        if compared and energy_per_atom is None:
            why = f"no energy to compare with {entry.ref_id}; "
        return {**base, "novelty": "unverified", "novelty_ref_id": entry.ref_id,
                "novelty_source": hull, "rediscovery_of": rediscovery,
                "novelty_reason": f"{why}{formula} is on hull {hull} as {entry.ref_id} "
                f"({what}), its structure not compared; {searched}, none matches"}  # fmt: skip
    if compared == 0 and hull is None:
        why = f"{searched}; no hull asked whether {formula} is known"
        return {**base, "novelty": "unverified", "novelty_reason": why}
    where = (
        f"composition absent from hull {hull}"
        if entry is None and hull
        else f"composition on hull {hull} as {entry.ref_id}"
        if entry is not None
        else ""
    )
    return {**base, "novelty": "novel",
            "novelty_reason": f"new: {searched}, none matches"
            + (f"; {where}" if where else "")}  # fmt: skip


def spacegroup_label(structure: Structure) -> str | None:
    """``"P4mm (99)"`` from spglib at :data:`SYMPREC`, or None where it fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(structure, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE)
        return f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception:  # spglib gives up on broken cells; a label is not worth a failure
        return None


@functools.cache
def _prototype_matcher() -> Any:
    """pymatgen's ``AflowPrototypeMatcher`` (the AFLOW library; ~10 s to load, once)."""
    import warnings

    from pymatgen.analysis.prototypes import AflowPrototypeMatcher

    with warnings.catch_warnings():  # deprecated for PrototypeDatabaseMatcher, same library
        warnings.simplefilter("ignore", DeprecationWarning)
        return AflowPrototypeMatcher()


def structure_type(generated: Structure | None, relaxed: Structure) -> dict[str, str | None]:
    """Space group before and after relaxation and the AFLOW prototype of the relaxed cell
    (``VerdictDoc`` fields; None where spglib or the prototype library has no answer)."""
    out: dict[str, str | None] = {
        "spacegroup_generated": spacegroup_label(generated) if generated is not None else None,
        "spacegroup_relaxed": spacegroup_label(relaxed),
        "prototype": None,
        "prototype_name": None,
    }
    try:
        found = _prototype_matcher().get_prototypes(relaxed) or []
    except Exception:  # the library's matcher can fail on odd cells: no label then
        found = []
    if found:
        tags = found[0].get("tags") or {}
        out["prototype"] = tags.get("aflow")
        out["prototype_name"] = tags.get("mineral") or tags.get("strukturbericht") or None
    return out


def _relaxed_structure(doc: dict) -> Structure | None:
    data = get_path(doc, K.RELAX_STRUCTURE) or get_path(doc, f"{K.PRERELAX}.structure")
    return Structure.from_dict(data) if data else None


def relaxed_verdicts(
    items: Sequence[tuple[str, Structure]],
    *,
    stored: Iterable[tuple] = (),
    references: Sequence[dict] = (),
    sources: Sequence[str] = (),
    hull: Any = None,
    hull_name: str | None = None,
    energies: dict[str, float] | None = None,
) -> dict[str, VerdictDoc]:
    """Novelty and uniqueness of relaxed structures (no database: the pure core).

    Parameters
    ----------
    items
        ``(candidate_id, relaxed structure)`` in order (earlier rows win a duplicate pair).
    stored
        Earlier relaxed candidates: ``(id, structure dict, fingerprint)`` rows.
    references
        Reference documents of the items' formulas (``references.reference_docs``).
    sources
        Names of the reference sources searched.
    hull, hull_name
        A ``ReferenceHull`` asked whether a composition is known, and its name.
    energies
        candidate_id → relaxed energy per atom on ``hull``'s scale (eV/atom).
    """
    from genflow.hull.coverage import composition_entry
    from genflow.workflows.gate.dedupe import find_duplicates
    from genflow.workflows.references import index_references

    index = index_references(references)
    by_formula: dict[str, list[str]] = defaultdict(list)
    for doc in references:
        by_formula[doc["reduced_formula"]].append(reference_key(doc["source"], doc["ref_id"]))
    dups = find_duplicates(list(items), list(stored), fingerprints=True)
    entries: dict[str, Any] = {}
    out = {}
    for (cid, structure), dup in zip(items, dups, strict=True):
        formula = structure.composition.reduced_formula
        if hull is not None and formula not in entries:
            entries[formula] = composition_entry(hull, formula)
        compared = by_formula.get(formula, [])
        fields = novelty_verdict(
            formula,
            match=index.find(structure),
            compared=len(compared),
            compared_ids=[split_reference_key(k)[1] for k in compared],
            sources=sources,
            entry=entries.get(formula),
            hull=hull_name,
            energy_per_atom=(energies or {}).get(cid),
            n_sites=(dup.fingerprint or {}).get("n_sites"),
        )
        out[cid] = VerdictDoc(**fields, duplicate_of=dup.duplicate_of,
                              fingerprint=dup.fingerprint)  # fmt: skip
    return out


def judge_relaxed(
    stores: GenflowStores,
    candidate_ids: Sequence[str],
    *,
    hulls: Sequence[str] = ("mp2021",),
    hit_threshold: float | None = None,
    relaxed_before: Any = None,
) -> dict[str, VerdictDoc]:
    """Judge the relaxed candidates ``candidate_ids`` (in this order) and store their verdicts.

    Novelty asks the first of ``hulls`` whether a composition is known; hits on any of them
    (E_d below ``hit_threshold``, unique) also get their space groups and prototype. Earlier
    candidates are every other relaxed one that is no duplicate itself (with
    ``relaxed_before``, a datetime: only those relaxed before it). Returns candidate_id →
    stored :class:`VerdictDoc`.
    """
    from genflow.core.candidates import hit_threshold as resolve_threshold
    from genflow.workflows.references import reference_docs, reference_set_sizes

    coll = stores.candidates
    docs = retry_call(lambda: list(coll.find(by_ids(candidate_ids))), what="read relaxed")
    order = {cid: i for i, cid in enumerate(candidate_ids)}
    docs = sorted((d for d in docs if d.get(K.STATE) in _RELAXED_STATES),
                  key=lambda d: order[d[K.CANDIDATE_ID]])  # fmt: skip
    items = [(d[K.CANDIDATE_ID], s) for d in docs if (s := _relaxed_structure(d)) is not None]
    if not items:
        return {}
    formulas = sorted({s.composition.reduced_formula for _, s in items})
    earlier = {
        K.REDUCED_FORMULA.value: {"$in": formulas},
        K.RELAX_STRUCTURE.value: {"$ne": None},
        K.STATE.value: {"$in": _RELAXED_STATES},
        K.CANDIDATE_ID.value: {"$nin": [cid for cid, _ in items]},
        K.DUPLICATE_OF.value: None,
    }
    if relaxed_before is not None:
        earlier[state_at_path(CandidateState.RELAXED)] = {"$lt": relaxed_before}
    fields = [K.CANDIDATE_ID.value, K.RELAX_STRUCTURE.value, K.VERDICT_FINGERPRINT.value]
    stored = [
        (d[K.CANDIDATE_ID], get_path(d, K.RELAX_STRUCTURE), get_path(d, K.VERDICT_FINGERPRINT))
        for d in retry_call(lambda: list(coll.find(earlier, fields)), what="read earlier relaxed")
    ]
    hull, hull_name, energies = None, None, {}
    if hulls:
        from genflow.hull.loaders import load_hull
        from genflow.hull.scheme import to_potcar_scale

        hull_name = hulls[0]
        hull = load_hull(hull_name)
        energies = {
            d[K.CANDIDATE_ID]: to_potcar_scale(e, d[K.FORMULA], hull.potcar_scale)
            for d in docs
            if (e := get_path(d, K.RELAX_ENERGY)) is not None
        }
    verdicts = relaxed_verdicts(
        items,
        stored=stored,
        references=reference_docs(formulas, stores.references),
        sources=list(reference_set_sizes(stores.references)),
        hull=hull,
        hull_name=hull_name,
        energies=energies,
    )
    threshold = resolve_threshold(hit_threshold)
    relaxed = dict(items)
    for doc in docs:
        cid = doc[K.CANDIDATE_ID]
        verdict = verdicts.get(cid)
        if verdict is None or verdict.duplicate_of is not None or not _is_hit_doc(doc, threshold):
            continue
        generated = Structure.from_dict(doc[K.STRUCTURE]) if doc.get(K.STRUCTURE) else None
        verdicts[cid] = verdict.model_copy(update=structure_type(generated, relaxed[cid]))
    record_verdicts(coll, verdicts, hulls=hulls)
    return verdicts


def _is_hit_doc(doc: dict, threshold: float) -> bool:
    """A hit on any hull it was scored on (the one hit rule, before uniqueness)."""
    from genflow.core.candidates import is_hit

    return any(is_hit(score, threshold) for score in (doc.get(K.SCORES) or {}).values())


def judge_campaign(
    stores: GenflowStores,
    name: str,
    *,
    hulls: Sequence[str] | None = None,
    hit_threshold: float | None = None,
) -> dict[str, Any]:
    """(Re-)judge every relaxed candidate of campaign ``name`` in the order they relaxed, e.g.
    after ``genflow refs add`` or for candidates scored before verdicts existed.

    Uniqueness is against candidates relaxed before the campaign's first and earlier ones of
    the campaign. ``hulls`` and ``hit_threshold`` default to the campaign's spec. Returns the
    number judged and the count per novelty verdict and of duplicates.
    """
    spec = (stores.campaigns.find_one({"name": name}, {"_id": 0, "spec": 1}) or {}).get("spec")
    spec = spec or {}
    hulls = list(hulls or spec.get("hulls") or ["mp2021"])
    if hit_threshold is None:
        hit_threshold = (spec.get("score") or {}).get("hit_threshold")
    relaxed_at = state_at_path(CandidateState.RELAXED)
    query = {K.CAMPAIGN.value: name, K.STATE.value: {"$in": _RELAXED_STATES}}
    docs = retry_call(
        lambda: list(stores.candidates.find(query, [K.CANDIDATE_ID.value, relaxed_at])),
        what="read the campaign's relaxed candidates",
    )
    docs.sort(key=lambda d: (get_path(d, relaxed_at) is None, get_path(d, relaxed_at) or 0,
                             d[K.CANDIDATE_ID]))  # fmt: skip
    times = [t for d in docs if (t := get_path(d, relaxed_at)) is not None]
    verdicts = judge_relaxed(stores, [d[K.CANDIDATE_ID] for d in docs], hulls=hulls,
                             hit_threshold=hit_threshold,
                             relaxed_before=min(times) if times else None)  # fmt: skip
    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[str(v.novelty)] = counts.get(str(v.novelty), 0) + 1
    return {
        "campaign": name,
        "judged": len(verdicts),
        "novelty": counts,
        "duplicates": sum(v.duplicate_of is not None for v in verdicts.values()),
    }
