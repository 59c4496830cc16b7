"""Submit a campaign to FireWorks exactly once (also nightly).

:func:`submit_campaign` converts the batch flows with ``flow_to_workflow`` (``store=None``:
workers read the JobStore, candidate database included, from their own jobflow config, so no
credentials enter the LaunchPad) and adds them with ``LaunchPad.bulk_add_wfs``. Idempotency:
the campaign document (unique ``name``) is claimed with one atomic insert, each batch key with
one conditional update, and keys already present in the LaunchPad are never added again, so
submitting twice, or two submitters racing, yields zero duplicate workflows.
:func:`nightly` submits ``<name>-<date>`` (a no-op when it already exists) and reports the hits
scored since the previous day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genflow.campaign.flows import build_flows
from genflow.campaign.ledger import claim_batch, claim_campaign, mark_batch, set_state
from genflow.campaign.spec import check_campaign_name
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from genflow.campaign.spec import CampaignSpec
    from genflow.core.store import GenflowStores

__all__ = ["SubmitReport", "nightly", "submit_campaign"]


@dataclass(frozen=True)
class SubmitReport:
    """What ``submit`` did: workflows added now, batches already there, fw ids per key."""

    campaign: str
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    fw_ids: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return dict(self.__dict__)


def submit_campaign(
    spec: CampaignSpec, *, name: str | None = None, stores: GenflowStores | None = None
) -> SubmitReport:
    """Add the campaign's workflows to the LaunchPad once (see the module docstring).

    Parameters
    ----------
    spec
        The validated spec.
    name
        Campaign name (default ``spec.name``).
    stores
        Where to submit (default ``connect()``).

    Raises
    ------
    genflow.campaign.ledger.CampaignExistsError
        If ``name`` exists with a different spec.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    from genflow.core.store import connect

    name = check_campaign_name(name or spec.name)
    stores = stores or connect()
    claim_campaign(stores, spec, name, "fireworks")
    existing: list[str] = []
    lpad = stores.launchpad
    _ensure_launchpad_indexes(lpad)
    mine = {}
    for index, (key, flow) in enumerate(build_flows(spec, name)):
        if claim_batch(stores, name, index, key):
            mine[index] = (key, flow)
        else:
            existing.append(key)
    # A claim whose workflow made it into the LaunchPad (submitter died before recording it).
    keys = [k for k, _ in mine.values()]
    present = {
        d["metadata"]["genflow_key"]: d["nodes"]
        for d in retry_call(
            lambda: list(
                lpad.workflows.find(
                    {"metadata.genflow_key": {"$in": keys}}, {"metadata": 1, "nodes": 1}
                )
            ),
            what="read submitted workflows",
        )
    }
    wfs, added = [], []
    for index, (key, flow) in mine.items():
        if key in present:
            existing.append(key)
            mark_batch(stores, name, index, present[key])
            continue
        wf = flow_to_workflow(
            flow,
            store=None,
            name=flow.name,
            metadata={"genflow_key": key, "genflow_campaign": name},
        )
        wfs.append(wf)
        added.append((index, key, wf))
    if wfs:
        lpad.bulk_add_wfs(wfs)
    fw_ids: dict[str, list[int]] = {}
    for index, key, wf in added:
        fw_ids[key] = sorted(wf.id_fw)
        mark_batch(stores, name, index, fw_ids[key])
    set_state(stores, name, "submitted")
    return SubmitReport(
        campaign=name, added=[k for _, k, _ in added], existing=existing, fw_ids=fw_ids
    )


def _ensure_launchpad_indexes(lpad: Any) -> None:
    """Index the fields submit and status query (idempotent, background like FireWorks')."""
    from genflow.core.store import ensure_index

    ensure_index(lpad.workflows, [("metadata.genflow_key", 1)])
    ensure_index(lpad.fireworks, [("spec.genflow_campaign", 1)])


def nightly(
    spec: CampaignSpec, *, date: dt.date | None = None, stores: GenflowStores | None = None
) -> dict[str, Any]:
    """Submit tonight's campaign ``<spec.name>-<date>`` once; report the last day's hits.

    Returns
    -------
    dict
        ``campaign``, ``submitted`` (False on a re-run), ``added``/``existing`` keys and
        ``new_hits`` (hits on each hull of this spec's campaigns scored in the 24 h before
        ``date``'s run, each judged by the spec's own hit threshold).
    """
    from genflow.campaign.hits import find_hits
    from genflow.core.store import connect

    stores = stores or connect()
    date = date or dt.datetime.now(dt.UTC).date()
    name = f"{spec.name}-{date.isoformat()}"
    report = submit_campaign(spec.with_name(name), name=name, stores=stores)
    since = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=1)
    prefix = f"{spec.name}-"
    new_hits = [
        hit.as_dict()
        for hull in spec.hulls
        for hit in find_hits(stores, hull=hull, max_ed=spec.score.hit_threshold, since=since)
        if hit.campaign.startswith(prefix) and hit.campaign != name
    ]
    return {
        "campaign": name,
        "submitted": bool(report.added),
        "added": report.added,
        "existing": report.existing,
        "new_hits": new_hits,
    }
