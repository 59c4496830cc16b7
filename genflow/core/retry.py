"""Ride out a database that goes away for a while: bounded retries with back-off.

A MongoDB replica set failing over, or the embedded server restarting, makes pymongo raise
``ConnectionFailure`` (``AutoReconnect``, ``NetworkTimeout``, ``ServerSelectionTimeoutError``)
for the operations caught in the gap. Every genflow write is idempotent (inserts keyed on the
unique ``candidate_id``, state changes filtered on legal source states, scores ``$set``), so
repeating an operation whose reply was lost changes nothing; reads are simply re-issued. So the
candidate repository and the campaign jobs wrap each round trip in :func:`retry_call`: an
outage costs a wait, never a result. Anything else (a duplicate key, a validation error)
is raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pymongo.errors import ConnectionFailure

__all__ = ["OUTAGE_BUDGET_S", "retry_call"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

OUTAGE_BUDGET_S = 180.0  # longer than a replica-set election or an embedded-server restart
_FIRST_WAIT_S, _MAX_WAIT_S = 0.5, 10.0


def retry_call(
    fn: Callable[[], T],
    *,
    what: str,
    budget_s: float = OUTAGE_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn()``; on a connection failure wait (0.5 s, doubling to 10 s) and call again.

    Parameters
    ----------
    fn
        One idempotent database round trip (or a read that is safe to repeat).
    what
        What the call does, for the log line and the final error.
    budget_s
        Give up after this many seconds of failures and raise the last error.

    Raises
    ------
    pymongo.errors.ConnectionFailure
        When the database stayed unreachable for ``budget_s``; the message names ``what``.
    """
    deadline = time.monotonic() + budget_s
    wait = _FIRST_WAIT_S
    while True:
        try:
            return fn()
        except ConnectionFailure as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise type(exc)(
                    f"{what}: database unreachable for {budget_s:.0f} s: {exc}"
                ) from exc
            logger.warning("%s: database unreachable (%s); retrying in %.1f s", what, exc, wait)
            sleep(min(wait, left))
            wait = min(wait * 2, _MAX_WAIT_S)
