"""The ``campaigns`` collection: one document per campaign, claimed atomically.

A campaign document is inserted once on its unique ``name`` (so two submitters racing on the
same campaign cannot both own it), records the spec and its hash, the mode (``local`` or
``fireworks``) and, per batch, who claimed it and which FireWorks ids it became. Every write is
retried across a database outage (:func:`genflow.core.retry.retry_call`) and is idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import utcnow
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from genflow.campaign.spec import CampaignSpec
    from genflow.core.store import GenflowStores

__all__ = [
    "CLAIM_TIMEOUT",
    "CampaignExistsError",
    "claim_batch",
    "claim_campaign",
    "mark_batch",
    "record_rerun",
    "set_state",
]

CLAIM_TIMEOUT = dt.timedelta(minutes=10)  # a batch claimed longer ago by a dead submitter


class CampaignExistsError(ValueError):
    """The campaign name is taken by a campaign with a different spec or mode."""


def _campaign_doc(spec: CampaignSpec, name: str, mode: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "name": name,
        "spec_name": spec.name,
        "spec_hash": spec.spec_hash(),
        "spec": spec.model_dump(mode="json"),
        "mode": mode,
        "state": "submitting" if mode == "fireworks" else "running",
        "batches": {},
        "created_at": now,
        "updated_at": now,
    }


def claim_campaign(
    stores: GenflowStores, spec: CampaignSpec, name: str, mode: str
) -> tuple[dict, bool]:
    """Insert the campaign document (atomic on the unique ``name``); return (doc, created).

    Raises
    ------
    CampaignExistsError
        The name exists with another spec, or in another mode (running a submitted campaign
        here too would relax every candidate twice).
    """
    from pymongo.errors import DuplicateKeyError

    doc = _campaign_doc(spec, name, mode)
    try:
        retry_call(lambda: stores.campaigns.insert_one(dict(doc)), what="claim the campaign")
        return doc, True
    except DuplicateKeyError:
        existing = retry_call(
            lambda: stores.campaigns.find_one({"name": name}, {"_id": 0}), what="read campaign"
        )
    if existing["spec_hash"] != doc["spec_hash"]:
        raise CampaignExistsError(
            f"campaign {name!r} already exists with a different spec (hash "
            f"{existing['spec_hash']} vs {doc['spec_hash']}); choose another name"
        )
    if existing.get("mode") != mode:
        raise CampaignExistsError(
            f"campaign {name!r} already exists as a {existing.get('mode')} campaign; see "
            f"`genflow campaign status {name}` or choose another name"
        )
    return existing, False


def claim_batch(stores: GenflowStores, name: str, index: int, key: str) -> bool:
    """Atomically claim batch ``index`` (or take over a stale claim); True if we own it."""
    now = utcnow()
    path = f"batches.{index}"
    claimed = retry_call(
        lambda: stores.campaigns.update_one(
            {"name": name, path: {"$exists": False}},
            {"$set": {path: {"key": key, "state": "claimed", "claimed_at": now}}},
        ),
        what="claim a batch",
    )
    if claimed.modified_count:
        return True
    stale = retry_call(
        lambda: stores.campaigns.update_one(
            {
                "name": name,
                f"{path}.state": "claimed",
                f"{path}.claimed_at": {"$lt": now - CLAIM_TIMEOUT},
            },
            {"$set": {f"{path}.claimed_at": now}},
        ),
        what="take over a stale batch claim",
    )
    return bool(stale.modified_count)


def mark_batch(stores: GenflowStores, name: str, index: int, fw_ids: list[int]) -> None:
    """Record that batch ``index`` is on the LaunchPad as ``fw_ids``."""
    retry_call(
        lambda: stores.campaigns.update_one(
            {"name": name},
            {"$set": {f"batches.{index}.state": "submitted", f"batches.{index}.fw_ids": fw_ids}},
        ),
        what="record a submitted batch",
    )


def set_state(stores: GenflowStores, name: str, state: str, **fields: Any) -> None:
    """Set the campaign's state (``submitted``, ``completed``, ...) and extra fields."""
    retry_call(
        lambda: stores.campaigns.update_one(
            {"name": name}, {"$set": {"state": state, "updated_at": utcnow(), **fields}}
        ),
        what=f"mark the campaign {state}",
    )


def record_rerun(stores: GenflowStores, name: str, rerun: dict[str, Any]) -> None:
    """Append one rerun (its id, selection, settings, candidates) to the campaign document."""
    retry_call(
        lambda: stores.campaigns.update_one(
            {"name": name}, {"$push": {"reruns": rerun}, "$set": {"updated_at": utcnow()}}
        ),
        what="record a rerun",
    )
