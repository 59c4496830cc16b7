"""Hull rounds: stable hits folded into the next round of a hull, kept in MongoDB.

GNoME grew its hull round after round by adding what it found; here a round lives in the
campaign database (collection ``hull_rounds``, one document per (hull, round)), shared by every
worker. Round 0 is the reference itself; round n adds the entries folded in rounds 1..n.

Every candidate's E_d on round n is measured against the reference plus the folded entries,
*without its own entry* (a folded hit would otherwise sit on its own hull at E_d = 0)::

    E_d^(n)(x) = E(x) - E_hull[ref ∪ folded_≤n \\ {x}](c(x))                      (E_d^n)

``scores.<hull>`` holds the latest round's score (its ``round`` field says which); every
earlier one is kept under ``score_rounds.<hull>.<round>``.

This room scores and returns: :func:`fold` stores the round (its own ``hull_rounds``
collection) and returns the re-scores as ``genflow.core.candidates.Rescore`` rows; the caller
writes them to the candidates collection with ``genflow.core.candidates.record_rescores``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import (
    HullScoreDoc,
    Rescore,
    get_path,
    score_key,
    score_path,
    scored_hits_filter,
    scored_on_filter,
    utcnow,
)
from genflow.core.chem import parse_composition
from genflow.core.retry import retry_call
from genflow.hull.keys import STABLE_THRESHOLD
from genflow.hull.reference import ReferenceHull
from genflow.hull.scheme import to_potcar_scale

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["ROUNDS_COLLECTION", "fold", "folded_entries", "latest_round", "load_latest"]

ROUNDS_COLLECTION = "hull_rounds"
# what a fold reads of a candidate: its id, composition and relaxed energy (MP scale)
_ENTRY_FIELDS = [str(k) for k in (K.CANDIDATE_ID, K.REDUCED_FORMULA, K.FORMULA, K.RELAX_ENERGY)]


def latest_round(stores: GenflowStores, hull: str) -> int:
    """The newest round of ``hull`` in the database (0: nothing folded yet)."""
    doc = retry_call(
        lambda: stores.db[ROUNDS_COLLECTION].find_one(
            {"hull": score_key(hull)}, sort=[("round", -1)]
        ),
        what="read hull round",
    )
    return int(doc["round"]) if doc else 0


def folded_entries(stores: GenflowStores, hull: str, upto: int | None = None) -> list[dict]:
    """Entries folded into ``hull`` in rounds 1..``upto`` (default: all)."""
    query: dict[str, Any] = {"hull": score_key(hull)}
    if upto is not None:
        query["round"] = {"$lte": upto}
    docs = retry_call(
        lambda: list(stores.db[ROUNDS_COLLECTION].find(query).sort("round", 1)),
        what="read hull rounds",
    )
    return [e for d in docs for e in d["entries"]]


def _elements(formula: str) -> frozenset[str]:
    return frozenset(el for el, _ in parse_composition(formula))


def _local_hull(base: ReferenceHull, elements: frozenset[str], extra: list[dict]) -> ReferenceHull:
    rows = base.rows_in(elements)
    return ReferenceHull(
        [base.formula(r) for r in rows] + [e["composition"] for e in extra],
        [float(base.energies[r]) for r in rows] + [e["energy_per_atom"] for e in extra],
        ids=[base.ids[r] for r in rows] + [e["id"] for e in extra],
        name=base.name,
        potcar_scale=base.potcar_scale,
    )


def _formula(doc: dict) -> str:
    return doc.get(K.REDUCED_FORMULA) or doc[K.FORMULA]


def fold(stores: GenflowStores, hull: str = "mp2021", *, campaign: str | None = None) -> dict:
    """Fold stable hits into the next round of ``hull`` and re-score the affected candidates.

    Reads the candidates and writes only the round itself (``hull_rounds``); the re-scores
    are returned for the caller to record (``genflow.core.candidates.record_rescores``, which
    also re-marks the hits).

    Parameters
    ----------
    campaign
        Fold only this campaign's stable hits (every candidate of an affected chemical
        system is re-scored, whichever campaign it belongs to).

    Returns
    -------
    dict
        ``round`` (the new one, or the latest if nothing was folded), ``folded`` ids,
        ``rescored`` count and ``rescores`` (list of ``Rescore``, eV/atom).
    """
    from genflow.hull.loaders import load_hull

    key = score_key(hull)
    coll = stores.candidates
    done = {e["id"] for e in folded_entries(stores, hull)}
    # stable hits (E_d below the hull, by the one hit rule) the audit did not call gaps
    query = scored_hits_filter(key, STABLE_THRESHOLD, campaign=campaign, hide_gaps=True)
    hits = [
        d
        for d in retry_call(lambda: list(coll.find(query, _ENTRY_FIELDS)), what="read stable hits")
        if d[K.CANDIDATE_ID] not in done
    ]
    current = latest_round(stores, hull)
    if not hits:
        return {"round": current, "folded": [], "rescored": 0, "rescores": []}
    base = load_hull(hull)
    new_round = current + 1
    entries = []
    for d in hits:
        formula = _formula(d)
        energy = to_potcar_scale(get_path(d, K.RELAX_ENERGY), formula, base.potcar_scale)
        entries.append({"id": d[K.CANDIDATE_ID], "composition": formula, "energy_per_atom": energy})
    doc = {"hull": key, "round": new_round, "entries": entries, "created_at": utcnow()}
    retry_call(lambda: stores.db[ROUNDS_COLLECTION].insert_one(doc), what="store hull round")
    systems = {_elements(e["composition"]) for e in entries}
    rescores = _rescore(stores, base, key, new_round, systems)
    return {
        "round": new_round,
        "folded": [e["id"] for e in entries],
        "rescored": len(rescores),
        "rescores": rescores,
    }


def _rescore(
    stores: GenflowStores,
    base: ReferenceHull,
    key: str,
    new_round: int,
    systems: set[frozenset[str]],
) -> list[Rescore]:
    """Score every candidate whose system contains a changed one on round ``new_round``."""
    coll = stores.candidates
    folded = folded_entries(stores, key, new_round)
    proj = [*_ENTRY_FIELDS, score_path(key), K.DUPLICATE_OF.value]
    docs = retry_call(
        lambda: list(coll.find(scored_on_filter(key), proj)), what="read scored candidates"
    )
    rescores = []
    for d in docs:
        formula = _formula(d)
        elements = _elements(formula)
        energy = get_path(d, K.RELAX_ENERGY)
        if energy is None or not any(s <= elements for s in systems):
            continue
        extra = [
            e
            for e in folded
            if e["id"] != d[K.CANDIDATE_ID] and _elements(e["composition"]) <= elements
        ]
        hull = _local_hull(base, elements, extra)
        (score,) = hull.score([formula], [to_potcar_scale(energy, formula, base.potcar_scale)])
        old = get_path(d, score_path(key))
        new = HullScoreDoc.from_score(score).model_copy(update={K.ROUND.value: new_round})
        if old.get(K.AUDIT) is not None:  # the audit's verdict stays with the hit
            new = new.model_copy(update={K.AUDIT.value: old[K.AUDIT]})
        rescores.append(Rescore(d[K.CANDIDATE_ID], key, new, old, get_path(d, K.DUPLICATE_OF)))
    return rescores


_ROUND_HULLS: dict[tuple[str, int], ReferenceHull] = {}


def load_latest(stores: GenflowStores, hull: str) -> tuple[ReferenceHull, int]:
    """The newest round of ``hull`` (reference plus every folded entry) and its number.

    New candidates are scored on it; they are not among the folded entries, so no
    leave-one-out is needed. Cached per process per (hull, round).
    """
    from genflow.hull.loaders import load_hull

    n = latest_round(stores, hull)
    base = load_hull(hull)
    if n == 0:
        return base, 0
    if (hull, n) not in _ROUND_HULLS:
        extra = folded_entries(stores, hull, n)
        rows = range(len(base))
        _ROUND_HULLS[(hull, n)] = ReferenceHull(
            [base.formula(r) for r in rows] + [e["composition"] for e in extra],
            list(base.energies) + [e["energy_per_atom"] for e in extra],
            ids=list(base.ids) + [e["id"] for e in extra],
            name=base.name,
            scheme=f"{base.scheme}; round {n}",
            potcar_scale=base.potcar_scale,
        )
    return _ROUND_HULLS[(hull, n)], n
