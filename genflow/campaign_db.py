"""Store access for campaign jobs: a worker-side connection and campaign bookkeeping.

Candidate writes go through :mod:`genflow.candidates_repo` (bulk, idempotent: upserts with
``$setOnInsert`` and state changes filtered on legal source states), so a FireWorks lost-run
rerun or a second ``submit`` can repeat any job safely.

>>> from genflow.campaign_db import campaign_key
>>> campaign_key("demo", "0123abcd", 2)
'demo:0123abcd:2'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genflow.store import GenflowStores

__all__ = ["campaign_key", "open_stores"]


def open_stores() -> GenflowStores:
    """Connect with the worker's settings (``GENFLOW_DB_URI``/``GENFLOW_DB_NAME``).

    Jobs call this rather than receiving a connection, so no URI (or password) is ever
    serialised into a FireWorks spec or a jobflow document.
    """
    from genflow.store import connect

    return connect(create_indexes=False)


def campaign_key(name: str, spec_hash: str, batch: int) -> str:
    """Deterministic key of one submitted workflow (campaign, spec content, batch index)."""
    return f"{name}:{spec_hash}:{batch}"
