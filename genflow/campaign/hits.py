"""Find hits and trace each one back to its DFT task, its candidate and its generator checkpoint.

A hit is a ``scored`` candidate whose E_d on a hull is strictly below a threshold (eV/atom;
default ``settings.HIT_THRESHOLD``). The query runs on the indexed ``scores.<hull>.e_d`` field,
so ``--max-ed`` can tighten or loosen the threshold after the fact. The same query in plain
pymongo, for the README, is :data:`RAW_PYMONGO_QUERY` (rendered by :func:`raw_pymongo_query`).

>>> from genflow.core.store import connect  # doctest: +SKIP
>>> stores = connect()  # doctest: +SKIP
>>> for hit in find_hits(stores, hull="mp2021", max_ed=0.0):  # doctest: +SKIP
...     trace = trace_hit(stores, hit.candidate_id, hull="mp2021")
...     print(hit.formula, hit.e_d, trace.checkpoint["checkpoint_hash"], trace.task_doc["uuid"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import Candidate, CandidateState, get_candidate, score_key

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = [
    "RAW_PYMONGO_QUERY",
    "Hit",
    "HitTrace",
    "campaign_hit_threshold",
    "campaign_threshold",
    "find_hits",
    "hits_filter",
    "raw_pymongo_query",
    "trace_hit",
    "write_cifs",
]

RAW_PYMONGO_QUERY = """\
from pymongo import MongoClient

db = MongoClient("{uri}")["{db_name}"]
hits = db.candidates.find(
    {{"state": "scored", "scores.{hull}.e_d": {{"$lt": {max_ed!r}}}}},
    {{"candidate_id": 1, "formula": 1, "scores.{hull}": 1, "relax.task_uuid": 1,
     "provenance.model_name": 1, "provenance.checkpoint_hash": 1}},
).sort("scores.{hull}.e_d", 1)
for hit in hits:
    print(hit["formula"], hit["scores"]["{hull}"]["e_d"], hit["provenance"]["checkpoint_hash"])
"""


def raw_pymongo_query(
    uri: str = "mongodb://127.0.0.1:27417/?directConnection=true",
    db_name: str = "genflow",
    hull: str = "mp2021",
    max_ed: float = 0.0,
) -> str:
    """Return the plain-pymongo equivalent of ``find_hits(hull, max_ed)`` as source code."""
    return RAW_PYMONGO_QUERY.format(
        uri=uri, db_name=db_name, hull=score_key(hull), max_ed=float(max_ed)
    )


@dataclass(frozen=True)
class Hit:
    """One row of the hits table (eV/atom)."""

    candidate_id: str
    campaign: str
    hull: str
    e_d: float
    e_form: float | None
    formula: str | None
    reduced_formula: str | None
    chemsys: str | None
    engine: str | None
    task_uuid: str | None
    model_name: str | None
    checkpoint_hash: str | None
    scored_at: datetime | None
    seed: int | None = None
    sample_index: int | None = None
    conditioning: dict[str, Any] = field(default_factory=dict)
    novelty: str | None = None
    audit: str | None = None
    beaten_by: str | None = None
    round: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``scored_at`` as ISO text) for ``--json``."""
        data = dict(self.__dict__)
        data["scored_at"] = self.scored_at.isoformat() if self.scored_at else None
        return data


def _since(value: datetime | date | str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"since={value!r}: expected an ISO date like 2025-01-31") from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def hits_filter(
    hull: str = "mp2021",
    max_ed: float = 0.0,
    campaign: str | None = None,
    since: datetime | date | str | None = None,
) -> dict[str, Any]:
    """Return the MongoDB filter for hits.

    Parameters
    ----------
    hull
        Hull name scores are keyed by (``mp2021``, ``gnome``, ...).
    max_ed
        E_d (eV/atom) strictly below which a scored candidate is a hit.
    campaign
        Only this campaign.
    since
        Only candidates scored at or after this time (naive values are UTC).
    """
    query: dict[str, Any] = {
        "state": str(CandidateState.SCORED),
        f"scores.{score_key(hull)}.e_d": {"$lt": float(max_ed)},
    }
    if campaign is not None:
        query["campaign"] = campaign
    if since is not None:
        query["state_at.scored"] = {"$gte": _since(since)}
    return query


def find_hits(
    stores: GenflowStores,
    hull: str = "mp2021",
    max_ed: float | None = None,
    campaign: str | None = None,
    since: datetime | date | str | None = None,
    *,
    limit: int = 0,
    hide_gaps: bool = False,
) -> list[Hit]:
    """Return hits sorted by E_d (most stable first); see :func:`hits_filter`.

    ``max_ed`` None uses ``settings.HIT_THRESHOLD``. Scores are the latest hull round's
    (``hull.rounds``). ``hide_gaps`` leaves out hits the audit labelled
    ``hull_gap_suspected`` (``workflows.hit_audit``).
    """
    if max_ed is None:
        from genflow.core.settings import get_settings

        max_ed = get_settings().HIT_THRESHOLD
    hull = score_key(hull)
    query = hits_filter(hull, max_ed, campaign, since)
    if hide_gaps:
        query[f"scores.{hull}.audit.verdict"] = {"$ne": "hull_gap_suspected"}
    proj = [
        "candidate_id", "campaign", "formula", "reduced_formula", "chemsys", f"scores.{hull}",
        "relax.engine", "relax.task_uuid", "provenance.model_name", "provenance.checkpoint_hash",
        "provenance.seed", "provenance.sample_index", "provenance.conditioning", "state_at.scored",
    ]  # fmt: skip
    cursor = stores.candidates.find(query, proj).sort(f"scores.{hull}.e_d", 1).limit(limit)
    hits = []
    for doc in cursor:
        score = doc["scores"][hull]
        relax, prov = doc.get("relax") or {}, doc.get("provenance") or {}
        hits.append(
            Hit(
                candidate_id=doc["candidate_id"],
                campaign=doc["campaign"],
                hull=hull,
                e_d=score["e_d"],
                e_form=score.get("e_form"),
                formula=doc.get("formula"),
                reduced_formula=doc.get("reduced_formula"),
                chemsys=doc.get("chemsys"),
                engine=relax.get("engine"),
                task_uuid=relax.get("task_uuid"),
                model_name=prov.get("model_name"),
                checkpoint_hash=prov.get("checkpoint_hash"),
                seed=prov.get("seed"),
                sample_index=prov.get("sample_index"),
                conditioning=prov.get("conditioning") or {},
                scored_at=(doc.get("state_at") or {}).get("scored"),
                novelty=score.get("novelty"),
                audit=(score.get("audit") or {}).get("verdict"),
                beaten_by=(score.get("audit") or {}).get("beaten_by"),
                round=score.get("round") or 0,
            )
        )
    return hits


@dataclass(frozen=True)
class HitTrace:
    """Everything behind one hit.

    Attributes
    ----------
    candidate
        The full candidate document.
    task_doc
        The jobflow output document of the DFT task that gave the energy (blobs in the
        ``data`` store not loaded), or None if it is missing (see ``problems``).
    task_docs
        Output documents of all relax/static jobs (``relax.task_uuids``), in that order.
    checkpoint
        Generator provenance: model_name, checkpoint_hash, seed, sample_index, conditioning.
    campaign
        The campaign document, if stored.
    problems
        Broken links found while tracing (kept as text, never raised).
    """

    candidate: Candidate
    task_doc: dict[str, Any] | None
    task_docs: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    campaign: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    def chain(self) -> dict[str, Any]:
        """The chain hit → score round → relax task → gate record → candidate → generator,
        JSON-ready (``genflow trace``); eV/atom throughout."""
        c = self.candidate
        when = {k: v.isoformat() for k, v in c.state_at.items()}
        relax = c.relax.model_dump(exclude={"structure"}) if c.relax else None
        if relax is not None:
            relax["task_found"] = self.task_doc is not None
            relax["task_name"] = (self.task_doc or {}).get("name")
        gate = c.gate.model_dump(exclude={"fingerprint"}) if c.gate else {}
        prerelax = c.prerelax.model_dump(exclude={"structure"}) if c.prerelax else None
        spec = (self.campaign or {}).get("spec") or {}
        return {
            "candidate_id": c.candidate_id,
            "formula": c.reduced_formula or c.formula,
            "state": c.state,
            "reject_reason": c.reject_reason,
            "hit": {"is_hit": dict(c.is_hit), "hit_threshold": campaign_threshold(spec)},
            "score": {
                "scored_at": when.get("scored"),
                "scores": {h: s.model_dump() for h, s in c.scores.items()},
            },
            "relax": relax,
            "prerelax": prerelax,
            "gate": {**gate, "gated_at": when.get("gated")},
            "candidate": {"campaign": c.campaign, "created_at": c.created_at.isoformat()},
            "generator": dict(self.checkpoint),
            "problems": list(self.problems),
        }


def campaign_threshold(spec: dict[str, Any] | None) -> float | None:
    """A stored campaign spec's ``score.hit_threshold`` (None: ``settings.HIT_THRESHOLD``).

    One meaning of "hit" per campaign: status, reports and ``genflow hits --campaign`` all
    read the threshold its scoring used.
    """
    return ((spec or {}).get("score") or {}).get("hit_threshold")


def campaign_hit_threshold(stores: GenflowStores, name: str) -> float | None:
    """:func:`campaign_threshold` of the campaign ``name`` as stored (None if unknown)."""
    doc = stores.campaigns.find_one({"name": name}, {"_id": 0, "spec.score": 1})
    return campaign_threshold((doc or {}).get("spec"))


def _job_doc(stores: GenflowStores, uuid: str, load: bool) -> dict[str, Any] | None:
    # The highest index is the job's final run (jobflow bumps it when a job is replaced).
    return stores.job_store.query_one({"uuid": uuid}, sort={"index": -1}, load=load)


def trace_hit(
    stores: GenflowStores, candidate_id: str, hull: str | None = None, *, load_blobs: bool = False
) -> HitTrace:
    """Walk from a hit to its DFT task documents, candidate and generator checkpoint.

    Parameters
    ----------
    candidate_id
        The hit's id.
    hull
        If given, check that the candidate is scored on that hull (else a ``problems`` row).
    load_blobs
        Also load large outputs from the JobStore's ``data`` store.

    Raises
    ------
    KeyError
        If the candidate does not exist.
    """
    candidate = get_candidate(stores.candidates, candidate_id)
    problems: list[str] = []
    if hull is not None and score_key(hull) not in candidate.scores:
        problems.append(f"candidate {candidate_id} has no score on hull {hull!r}")
    relax = candidate.relax
    task_doc = None
    task_docs = []
    if relax is None:
        problems.append(f"candidate {candidate_id} has no relax result")
    else:
        uuids = list(relax.task_uuids)
        if relax.task_uuid and relax.task_uuid not in uuids:
            uuids.append(relax.task_uuid)
        for uuid in uuids:
            doc = _job_doc(stores, uuid, load_blobs)
            if doc is None:
                problems.append(f"task {uuid} of candidate {candidate_id} not in the JobStore")
                continue
            task_docs.append(doc)
            if uuid == relax.task_uuid:
                task_doc = doc
        if relax.task_uuid is None:
            problems.append(f"candidate {candidate_id}: relax.task_uuid not recorded")
    campaign = stores.campaigns.find_one({"name": candidate.campaign}, {"_id": 0})
    checkpoint = candidate.provenance.model_dump()
    return HitTrace(candidate, task_doc, task_docs, checkpoint, campaign, problems)


def write_cifs(stores: GenflowStores, hits: list[Hit], directory: str | Path) -> list[Path]:
    """Write one CIF per hit (final DFT structure if recorded, else the generated one).

    Files are named ``<reduced_formula>_<candidate_id>.cif``; returns their paths.
    """
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifWriter

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    ids = [h.candidate_id for h in hits]
    docs = {
        d["candidate_id"]: d
        for d in stores.candidates.find(
            {"candidate_id": {"$in": ids}},
            {"candidate_id": 1, "structure": 1, "relax.structure": 1},
        )
    }
    for hit in hits:
        doc = docs[hit.candidate_id]
        struct = (doc.get("relax") or {}).get("structure") or doc["structure"]
        path = out / f"{hit.reduced_formula}_{hit.candidate_id}.cif"
        CifWriter(Structure.from_dict(struct)).write_file(path)
        paths.append(path)
    return paths
