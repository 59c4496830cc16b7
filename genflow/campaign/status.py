"""Campaign progress and status: counts per state, throughput, failures with reasons, hits.

Everything is read from the store (candidates, campaigns, the LaunchPad), so the same report
works for a local run, for FireWorks workers anywhere, and for ``genflow campaign status``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import (
    CandidateState,
    count_states,
    failure_counts,
    failures,
    get_path,
    state_at_path,
)

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = [
    "campaign_report",
    "campaign_summaries",
    "fireworks_status",
    "no_physics",
    "stage_counts",
    "stage_pipeline",
]

S = CandidateState
_CAMPAIGN, _STATE, _RELAX = K.CAMPAIGN.value, K.STATE.value, K.RELAX.value


def stage_pipeline(name: str) -> list[dict[str, Any]]:
    """The one aggregation :func:`stage_counts` runs: the campaign's candidates (an index scan
    of ``(campaign, state)``, on SecantusDB too: ``tests/store/test_query_plans.py``) counted
    per state and whether a ``relax`` result is stored. Five ``count_documents`` with ``$ne``
    and null predicates made SecantusDB scan the whole collection for two of them."""
    relax = {"$type": f"${_RELAX}"}  # "missing" or "null": no relax result
    return [
        {"$match": {_CAMPAIGN: name}},
        {"$group": {"_id": {"state": f"${_STATE}", "relax": relax}, "n": {"$sum": 1}}},
    ]


def stage_counts(stores: GenflowStores, name: str) -> dict[str, int]:
    """Candidates that finished each stage: generated, gated (decided), relaxed, scored."""
    counts = dict.fromkeys(("generated", "gated", "rejected_at_gate", "relaxed", "scored"), 0)
    for row in stores.candidates.aggregate(stage_pipeline(name)):
        state, n = row["_id"].get("state"), int(row["n"])
        relaxed = row["_id"].get("relax") not in ("missing", "null")
        counts["generated"] += n
        counts["gated"] += n if state != str(S.GENERATED) else 0
        counts["rejected_at_gate"] += n if state == str(S.REJECTED) and not relaxed else 0
        counts["relaxed"] += n if relaxed else 0
        counts["scored"] += n if state == str(S.SCORED) else 0
    return counts


def campaign_summaries(stores: GenflowStores) -> list[dict[str, Any]]:
    """Every campaign with its state, mode, times and :func:`stage_counts`, newest first.

    Campaigns come from the ``campaigns`` collection and from candidates whose campaign has no
    document there (an import written by hand): those have state None.
    """
    docs = {
        d["name"]: d
        for d in stores.campaigns.find(
            {}, {"_id": 0, "name": 1, "state": 1, "mode": 1, "created_at": 1, "updated_at": 1}
        )
    }
    names = set(docs) | {str(n) for n in stores.candidates.distinct("campaign")}
    rows = [
        {
            "campaign": name,
            "known": name in docs,
            "state": docs.get(name, {}).get("state"),
            "mode": docs.get(name, {}).get("mode"),
            "created_at": docs.get(name, {}).get("created_at"),
            "updated_at": docs.get(name, {}).get("updated_at"),
            "stages": stage_counts(stores, name),
        }
        for name in names
    ]
    # newest first; campaigns without a document (no created_at) last, by name
    rows.sort(key=lambda r: (r["created_at"] is None, r["campaign"]))
    rows.sort(key=lambda r: r["created_at"].timestamp() if r["created_at"] else 0, reverse=True)
    return rows


def _throughput(stores: GenflowStores, name: str) -> dict[str, Any]:
    """Scored candidates per hour between the first candidate and the last score."""
    coll = stores.candidates
    created, scored_at = K.CREATED_AT.value, state_at_path(S.SCORED)
    scored = {_CAMPAIGN: name, _STATE: str(S.SCORED)}
    first = coll.find_one({_CAMPAIGN: name}, [created], sort=[(created, 1)])
    last = coll.find_one(scored, [K.STATE_AT.value], sort=[(scored_at, -1)])
    if not first or not last:
        return {"scored_per_hour": None, "wall_hours": None}
    hours = (get_path(last, scored_at) - first[created]).total_seconds() / 3600
    n = coll.count_documents(scored)
    return {
        "scored_per_hour": round(n / hours, 2) if hours > 0 else None,
        "wall_hours": round(hours, 4),
    }


def fireworks_status(stores: GenflowStores, name: str) -> dict[str, Any]:
    """FireWorks of the campaign: counts per state and fizzled ones with their error line."""
    lpad = stores.launchpad
    query = {"spec.genflow_campaign": name}
    states: dict[str, int] = {}
    for row in lpad.fireworks.aggregate(
        [{"$match": query}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
    ):
        states[str(row["_id"])] = int(row["n"])
    fizzled = []
    for fw in lpad.fireworks.find(
        {**query, "state": "FIZZLED"}, {"fw_id": 1, "name": 1, "launches": 1}
    ):
        reason = "unknown"
        if fw.get("launches"):
            launch = lpad.launches.find_one({"launch_id": fw["launches"][-1]}, {"action": 1})
            trace = (
                (((launch or {}).get("action") or {}).get("stored_data") or {})
                .get("_exception", {})
                .get("_stacktrace", "")
            )
            reason = trace.strip().splitlines()[-1] if trace.strip() else reason
        fizzled.append({"fw_id": fw["fw_id"], "name": fw["name"], "reason": reason})
    return {"states": states, "fizzled": fizzled}


#: FireWorks states of fireworks that still run or will run without anyone's intervention.
_FW_ACTIVE = ("READY", "RESERVED", "RUNNING", "WAITING")


def _fireworks_state(state: str | None, fws: dict[str, Any]) -> dict[str, Any]:
    """``state``/``hint`` of a submitted campaign, followed from its fireworks' states.

    No local runner finishes a FireWorks campaign, so its state is read from the LaunchPad:
    ``completed`` when every firework completed, ``failed`` when none can run any more and
    some fizzled, ``running`` while any ran or runs, else the ledger's ``submitted``.
    """
    states = fws["states"]
    if state not in ("submitted", "running", "completed", "failed") or not states:
        return {"state": state}  # still being submitted, or nothing on the LaunchPad yet
    total, done = sum(states.values()), states.get("COMPLETED", 0)
    if any(states.get(s) for s in _FW_ACTIVE):
        started = done or states.get("RUNNING") or states.get("FIZZLED")
        return {"state": "running" if started else "submitted"}
    if done == total:
        return {"state": "completed"}
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    if states.get("FIZZLED"):
        return {
            "state": "failed",
            "hint": f"fireworks: {counts}; see the FIZZLED reasons below, fix and rerun them "
            "(`lpad rerun_fws -s FIZZLED`)",
        }
    return {"state": "stopped", "hint": f"fireworks: {counts} (paused or defused)"}


def _local_runner(stores: GenflowStores, name: str, state: str | None) -> dict[str, Any]:
    """``state``/``runner``/``hint`` of a local campaign: "running" needs a live lease holder.

    A run that was killed stops its lease's heartbeat; after the expiry the campaign is
    ``interrupted`` and the hint says who ran it last and how to resume.
    """
    from genflow.campaign.lease import lease_info

    lease = lease_info(stores, name)
    out: dict[str, Any] = {"state": state, "runner": lease}
    if state != "running" or (lease and lease["alive"]):
        return out
    holder = (lease or {}).get("holder") or (lease or {}).get("last_holder")
    who = (
        f"last run by host {holder['host']} pid {holder['pid']}, last heartbeat "
        f"{lease['heartbeat_at']:%Y-%m-%d %H:%M:%S} UTC"
        if holder and lease and lease.get("heartbeat_at")
        else "no runner holds it"
    )
    out["state"] = "interrupted"
    out["hint"] = (
        f"{who}; `genflow campaign run SPEC --name {name}` resumes it (candidates already "
        "scored are kept, nothing runs twice)"
    )
    return out


#: what to change in the spec, per gate stage that filtered everything
_FLAGS = {
    "duplicate": "generator.seed (or the conditioning) to draw samples no earlier campaign "
    "drew, or gate.dedupe: false to relax duplicates anyway",
    "novelty": "gate.novelty: flag (keep known materials, marked) or off",
    "prescreen": "gate.prescreen_max_ed (higher, or unset to keep all)",
    "validity": "gate.min_distance",
    "smact": "gate.smact: false",
}


def no_physics(stores: GenflowStores, name: str, stages: dict[str, int]) -> dict[str, Any] | None:
    """Why a campaign ran no relaxation: every candidate was filtered at the gate.

    None while anything reached the relax stage, or nothing was generated yet. Otherwise a
    JSON-ready dict: ``summary`` (one sentence), ``duplicates_of`` ({earlier campaign: n};
    this campaign's own name for duplicates within its batches), ``known_references``
    ({reference source: n}), ``other`` ({reject code: n}) and ``flags``: the spec fields that
    change the outcome.
    """
    if (
        not stages["generated"]
        or stages["relaxed"]
        or stages["rejected_at_gate"] < stages["generated"]
    ):
        return None
    coll = stores.candidates
    proj = {"_id": 0, K.REJECT_REASON: 1, K.GATE_DUPLICATE_OF: 1, K.GATE_NOVELTY_SOURCE: 1}
    docs = list(coll.find({_CAMPAIGN: name, _STATE: str(S.REJECTED)}, proj))
    partners: dict[str, int] = {}
    known: dict[str, int] = {}
    other: dict[str, int] = {}
    for doc in docs:
        code = str(get_path(doc, K.REJECT_REASON) or "rejected").split(":", 1)[0].strip()
        partner = get_path(doc, K.GATE_DUPLICATE_OF)
        if code == "duplicate" and partner:
            partners[partner] = partners.get(partner, 0) + 1
        elif code == "novelty":
            source = get_path(doc, K.GATE_NOVELTY_SOURCE) or "references"
            known[source] = known.get(source, 0) + 1
        else:
            other[code] = other.get(code, 0) + 1
    owner = {
        d[K.CANDIDATE_ID]: d[_CAMPAIGN]
        for d in coll.find(
            {K.CANDIDATE_ID.value: {"$in": sorted(partners)}},
            {"_id": 0, K.CANDIDATE_ID: 1, _CAMPAIGN: 1},
        )
    }
    duplicates_of: dict[str, int] = {}
    for partner, n in partners.items():
        campaign = owner.get(partner, name)  # not stored: an earlier row of the same batch
        duplicates_of[campaign] = duplicates_of.get(campaign, 0) + n
    parts = []
    if duplicates_of:
        where = ", ".join(f"{c!r}: {n}" for c, n in sorted(duplicates_of.items()))
        parts.append(f"{sum(duplicates_of.values())} duplicate(s) of earlier candidates ({where})")
    if known:
        where = ", ".join(f"{s} ×{n}" for s, n in sorted(known.items()))
        parts.append(f"{sum(known.values())} known reference structure(s) ({where})")
    if other:
        parts.append(", ".join(f"{n} {c}" for c, n in sorted(other.items())))
    codes = ["duplicate"] * bool(duplicates_of) + ["novelty"] * bool(known) + sorted(other)
    flags = [_FLAGS[code] for code in codes if code in _FLAGS]
    summary = (
        f"no physics ran: all {stages['generated']} candidate(s) were filtered at the gate: "
        + "; ".join(parts)
    )
    return {
        "summary": summary,
        "duplicates_of": duplicates_of,
        "known_references": known,
        "other": other,
        "flags": flags,
    }


def campaign_report(
    stores: GenflowStores, name: str, hulls: list[str] | tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Status of one campaign as a JSON-ready dict (used by run, status and --json).

    Parameters
    ----------
    hulls
        Hulls to list hits for (default: the campaign's spec hulls, else ``mp2021``).
    """
    from genflow.campaign.hits import campaign_threshold, find_hits

    doc = stores.campaigns.find_one({"name": name}, {"_id": 0, "spec": 1, "state": 1, "mode": 1})
    spec = (doc or {}).get("spec") or {}
    if hulls is None:
        hulls = spec.get("hulls") or ["mp2021"]
    # The campaign's own hit threshold (None: the HIT_THRESHOLD setting), as scoring used.
    max_ed = campaign_threshold(spec)
    hits = [
        h.as_dict()
        for hull in hulls
        for h in find_hits(stores, hull=hull, max_ed=max_ed, campaign=name)
    ]
    fail_rows = failures(stores.candidates, name, limit=50)
    for row in fail_rows:
        when = row.get(K.UPDATED_AT)
        row[K.UPDATED_AT.value] = when.isoformat() if when else None
    stages = stage_counts(stores, name)
    report = {
        "campaign": name,
        "known": doc is not None,
        "state": (doc or {}).get("state"),
        "mode": (doc or {}).get("mode"),
        "counts": count_states(stores.candidates, name),
        "stages": stages,
        "no_physics": no_physics(stores, name, stages),
        "throughput": _throughput(stores, name),
        "failure_counts": failure_counts(stores.candidates, name),
        "failures": fail_rows,
        "hits": hits,
    }
    if (doc or {}).get("mode") == "fireworks":
        report["fireworks"] = fireworks_status(stores, name)
        report.update(_fireworks_state(report["state"], report["fireworks"]))
    elif doc is not None:
        report.update(_local_runner(stores, name, report["state"]))
    return report
