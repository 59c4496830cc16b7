"""Campaign progress and status: counts per state, throughput, failures with reasons, hits.

Everything is read from the store (candidates, campaigns, the LaunchPad), so the same report
works for a local run, for FireWorks workers anywhere, and for ``genflow campaign status``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genflow.core.candidate_queries import count_states, failure_counts, failures

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["campaign_report", "fireworks_status", "no_physics", "stage_counts"]


def stage_counts(stores: GenflowStores, name: str) -> dict[str, int]:
    """Candidates that finished each stage: generated, gated (decided), relaxed, scored."""
    coll = stores.candidates
    q = {"campaign": name}
    return {
        "generated": coll.count_documents(q),
        "gated": coll.count_documents({**q, "state": {"$ne": "generated"}}),
        "rejected_at_gate": coll.count_documents({**q, "state": "rejected", "relax": None}),
        "relaxed": coll.count_documents({**q, "relax": {"$ne": None}}),
        "scored": coll.count_documents({**q, "state": "scored"}),
    }


def _throughput(stores: GenflowStores, name: str) -> dict[str, Any]:
    """Scored candidates per hour between the first candidate and the last score."""
    coll = stores.candidates
    first = coll.find_one({"campaign": name}, {"created_at": 1}, sort=[("created_at", 1)])
    last = coll.find_one(
        {"campaign": name, "state": "scored"}, {"state_at": 1}, sort=[("state_at.scored", -1)]
    )
    if not first or not last:
        return {"scored_per_hour": None, "wall_hours": None}
    hours = (last["state_at"]["scored"] - first["created_at"]).total_seconds() / 3600
    n = coll.count_documents({"campaign": name, "state": "scored"})
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
    proj = {"_id": 0, "reject_reason": 1, "gate.duplicate_of": 1, "gate.novelty_source": 1}
    docs = list(coll.find({"campaign": name, "state": "rejected"}, proj))
    partners: dict[str, int] = {}
    known: dict[str, int] = {}
    other: dict[str, int] = {}
    for doc in docs:
        code = str(doc.get("reject_reason") or "rejected").split(":", 1)[0].strip()
        gate = doc.get("gate") or {}
        if code == "duplicate" and gate.get("duplicate_of"):
            partners[gate["duplicate_of"]] = partners.get(gate["duplicate_of"], 0) + 1
        elif code == "novelty":
            source = gate.get("novelty_source") or "references"
            known[source] = known.get(source, 0) + 1
        else:
            other[code] = other.get(code, 0) + 1
    owner = {
        d["candidate_id"]: d["campaign"]
        for d in coll.find(
            {"candidate_id": {"$in": sorted(partners)}},
            {"_id": 0, "candidate_id": 1, "campaign": 1},
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
        row["updated_at"] = row["updated_at"].isoformat() if row.get("updated_at") else None
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
    return report
