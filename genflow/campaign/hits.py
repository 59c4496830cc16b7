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

import pprint
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import (
    HIT_ROW_FIELDS,
    HIT_ROW_PROJECTION,
    Candidate,
    CandidateState,
    SunFlags,
    by_ids,
    e_d_sort,
    get_candidate,
    get_path,
    hit_threshold,
    resolve_candidate_id,
    score_key,
    score_path,
    scored_hits_filter,
    state_at_path,
    sun_counts,
    sun_filter,
    sun_flags,
)
from genflow.core.candidates import CandidateKey as K

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = [
    "RAW_PYMONGO_QUERY",
    "Hit",
    "HitTrace",
    "campaign_hit_threshold",
    "campaign_sun",
    "campaign_threshold",
    "find_hits",
    "hits_filter",
    "raw_pymongo_query",
    "trace_hit",
    "write_cifs",
]

# Rendered by raw_pymongo_query from the same filter, projection and sort as find_hits.
RAW_PYMONGO_QUERY = """\
from pymongo import MongoClient

db = MongoClient("{uri}")["{db_name}"]
hits = db.candidates.find(
    {query},
    {projection},
).sort({sort})
for hit in hits:
    print({row})
"""


def raw_pymongo_query(
    uri: str = "mongodb://127.0.0.1:27417/?directConnection=true",
    db_name: str = "genflow",
    hull: str = "mp2021",
    max_ed: float = 0.0,
) -> str:
    """Return the plain-pymongo equivalent of ``find_hits(hull, max_ed)`` as source code."""
    shown = (K.FORMULA, score_path(hull, K.E_D), K.CHECKPOINT_HASH)
    fields = (K.CANDIDATE_ID, K.FORMULA, score_path(hull), K.RELAX_TASK_UUID, K.MODEL_NAME)
    projection = {str(k): 1 for k in (*fields, K.CHECKPOINT_HASH)}
    return RAW_PYMONGO_QUERY.format(
        uri=uri,
        db_name=db_name,
        query=_source(scored_hits_filter(hull, float(max_ed))),
        projection=_source(projection),
        sort=", ".join(_source(part) for part in e_d_sort(hull)[0]),
        row=", ".join("hit" + "".join(f"[{_source(p)}]" for p in str(f).split(".")) for f in shown),
    )


def _source(value: Any) -> str:
    """``value`` as Python source for the README snippet (double quotes, wrapped)."""
    text = pprint.pformat(value, width=92, sort_dicts=False).replace("'", '"')
    return text.replace("-inf", 'float("-inf")').replace("\n", "\n    ")


def _leaf(key: K) -> str:
    """The ``Hit`` attribute a stored field fills: its path's last part."""
    return key.value.rsplit(".", 1)[-1]


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
    # the hull's entry of the composition: "known composition" / "composition absent from hull"
    hull_composition: str | None = None
    audit: str | None = None
    beaten_by: str | None = None
    round: int = 0
    # verdicts on the relaxed cell (workflows.verdicts; None: scored before they existed)
    novelty: str | None = None
    novelty_reason: str | None = None
    novelty_ref_id: str | None = None
    novelty_source: str | None = None
    novelty_compared: int | None = None
    novelty_sources: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    spacegroup_generated: str | None = None
    spacegroup_relaxed: str | None = None
    prototype: str | None = None
    prototype_name: str | None = None
    # "thin": the hull lacks a binary of the system (hull.coverage.thin_binaries), else "ok"
    coverage: str | None = None
    coverage_missing: list[str] = field(default_factory=list)

    @property
    def sun(self) -> SunFlags:
        """S, U, N on this hit's hull (``genflow.core.candidates.sun_flags``)."""
        return sun_flags(self.e_d, self.duplicate_of, self.novelty)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``scored_at`` as ISO text, S.U.N. flags) for ``--json``."""
        data = dict(self.__dict__)
        data["scored_at"] = self.scored_at.isoformat() if self.scored_at else None
        data.update(self.sun._asdict())
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
    *,
    hide_gaps: bool = False,
) -> dict[str, Any]:
    """Return the MongoDB filter for hits (``genflow.core.candidates.scored_hits_filter``).

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
    hide_gaps
        Leave out hits the audit labelled ``hull_gap_suspected``.
    """
    return scored_hits_filter(
        hull,
        float(max_ed),
        campaign=campaign,
        scored_since=None if since is None else _since(since),
        hide_gaps=hide_gaps,
    )


def find_hits(
    stores: GenflowStores,
    hull: str = "mp2021",
    max_ed: float | None = None,
    campaign: str | None = None,
    since: datetime | date | str | None = None,
    *,
    limit: int = 0,
    hide_gaps: bool = False,
    sun: str | None = None,
) -> list[Hit]:
    """Return hits sorted by E_d (most stable first); see :func:`hits_filter`.

    ``max_ed`` None uses ``settings.HIT_THRESHOLD``. Scores are the latest hull round's
    (``hull.rounds``). ``hide_gaps`` leaves out hits the audit labelled
    ``hull_gap_suspected`` (``workflows.hit_audit``). ``sun="sun"`` / ``"msun"`` keeps only
    S.U.N. / M.S.U.N. candidates (``genflow.core.candidates.sun_filter``).
    """
    hull = score_key(hull)
    query = hits_filter(hull, hit_threshold(max_ed), campaign, since, hide_gaps=hide_gaps)
    if sun is not None:
        if sun not in ("sun", "msun"):
            raise ValueError(f"sun={sun!r}: want 'sun' or 'msun'")
        query = {"$and": [query, sun_filter(hull, metastable=sun == "msun")]}
    proj = [*HIT_ROW_PROJECTION, score_path(hull)]
    cursor = stores.candidates.find(query, proj).sort(e_d_sort(hull)).limit(limit)
    hits = []
    for doc in cursor:
        score = get_path(doc, score_path(hull))
        row = {_leaf(k): get_path(doc, k) for k in HIT_ROW_FIELDS}
        row[_leaf(K.CONDITIONING)] = row[_leaf(K.CONDITIONING)] or {}
        row[_leaf(K.NOVELTY_SOURCES)] = row[_leaf(K.NOVELTY_SOURCES)] or []
        hits.append(
            Hit(
                **row,
                hull=hull,
                e_d=score[K.E_D],
                e_form=score.get(K.E_FORM),
                scored_at=get_path(doc, state_at_path(CandidateState.SCORED)),
                hull_composition=score.get(K.NOVELTY),
                audit=get_path(score, K.AUDIT_VERDICT),
                beaten_by=get_path(score, f"{K.AUDIT}.beaten_by"),
                round=score.get(K.ROUND) or 0,
                coverage=score.get(K.COVERAGE),
                coverage_missing=list(score.get(K.COVERAGE_MISSING) or []),
            )
        )
    return hits


def campaign_sun(stores: GenflowStores, name: str, hull: str = "mp2021") -> dict[str, Any]:
    """S.U.N. and M.S.U.N. counts and rates of campaign ``name`` on ``hull`` over every
    candidate it generated (``genflow.core.candidates.sun_counts``), with the hull and the
    reference set novelty was judged against (source → number of structures)."""
    from genflow.workflows.references import reference_set_sizes

    key = score_key(hull)
    fields = [score_path(key, K.E_D), score_path(key, K.SCORE_ERROR), K.DUPLICATE_OF.value,
              score_path(key, K.IMPLAUSIBLE), K.VERDICT_NOVELTY.value]  # fmt: skip
    docs = list(stores.candidates.find({K.CAMPAIGN.value: name}, fields))
    rows = [
        (  # an errored or implausible score counts as unscored: never stable
            None
            if get_path(d, score_path(key, K.SCORE_ERROR))
            or get_path(d, score_path(key, K.IMPLAUSIBLE))
            else get_path(d, score_path(key, K.E_D)),
            get_path(d, K.DUPLICATE_OF),
            get_path(d, K.VERDICT_NOVELTY),
        )
        for d in docs
    ]
    sizes = reference_set_sizes(stores.references)
    return {
        **sun_counts(rows, len(docs)),
        "hull": key,
        "n_judged": sum(r[2] is not None for r in rows),
        "references": sizes,
        "n_references": sum(sizes.values()),
    }


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
        """The chain hit → score round → verdict on the relaxed cell → relax task → gate
        record → candidate → generator, JSON-ready (``genflow trace``); eV/atom throughout."""
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
            K.CANDIDATE_ID.value: c.candidate_id,
            K.FORMULA.value: c.reduced_formula or c.formula,
            K.STATE.value: c.state,
            K.REJECT_REASON.value: c.reject_reason,
            "hit": {K.IS_HIT.value: dict(c.is_hit), "hit_threshold": campaign_threshold(spec)},
            "score": {
                "scored_at": when.get("scored"),
                "scores": {h: s.model_dump() for h, s in c.scores.items()},
            },
            "verdict": c.verdict.model_dump(exclude={"fingerprint"}) if c.verdict else None,
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
        The hit's id, or its start as ``genflow hits`` shows it (11 characters).
    hull
        If given, check that the candidate is scored on that hull (else a ``problems`` row).
    load_blobs
        Also load large outputs from the JobStore's ``data`` store.

    Raises
    ------
    KeyError
        If the candidate does not exist.
    ValueError
        If ``candidate_id`` is the start of several candidates' ids.
    """
    candidate_id = resolve_candidate_id(stores.candidates, candidate_id)
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
    proj = [str(k) for k in (K.CANDIDATE_ID, K.STRUCTURE, K.RELAX_STRUCTURE)]
    docs = {d[K.CANDIDATE_ID]: d for d in stores.candidates.find(by_ids(ids), proj)}
    for hit in hits:
        doc = docs[hit.candidate_id]
        struct = get_path(doc, K.RELAX_STRUCTURE) or doc[K.STRUCTURE]
        path = out / f"{hit.reduced_formula}_{hit.candidate_id}.cif"
        CifWriter(Structure.from_dict(struct)).write_file(path)
        paths.append(path)
    return paths
