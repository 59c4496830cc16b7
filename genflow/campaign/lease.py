"""One runner per campaign: a lease document in MongoDB with a heartbeat and an expiry.

A local ``genflow campaign run`` holds the lease of its campaign while it runs. The lease is
one document of the ``leases`` collection, keyed ``campaign/<name>`` on ``_id`` (unique by
construction), so acquiring it is one atomic ``find_one_and_update`` with ``upsert``: the
filter matches a free lease (no holder) or an expired one (no heartbeat for
``LEASE_HEARTBEAT_S`` x ``LEASE_MISSED_BEATS`` seconds); when a live holder has it, the filter
matches nothing and the upsert's insert collides on ``_id`` (``DuplicateKeyError``): the lease
is held, and :class:`LeaseHeldError` says by whom (host, pid, since, last heartbeat).

While held, a daemon thread writes ``heartbeat_at`` every ``LEASE_HEARTBEAT_S`` seconds,
filtered on the holder's token (a holder that was taken over notices: its update matches
nothing). A heartbeat lost to a database outage is only logged: the expiry is several beats
long, longer than an outage the jobs themselves ride out (:mod:`genflow.core.retry`). A killed
run stops beating; :func:`lease_info` then reports it ``alive: False`` and ``campaign status``
shows the campaign ``interrupted``; the next run takes the lease over and records whom it took
it from. Times are the runners' clocks (UTC): keep the expiry well above the clock skew
between hosts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from genflow.core.store import GenflowStores

__all__ = ["LEASES", "CampaignLease", "LeaseHeldError", "acquire_lease", "lease_info"]

logger = logging.getLogger(__name__)

LEASES = "leases"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _timing() -> tuple[float, float]:
    """(heartbeat seconds, expiry seconds) from the settings."""
    from genflow.core.settings import get_settings

    settings = get_settings()
    return settings.LEASE_HEARTBEAT_S, settings.LEASE_HEARTBEAT_S * settings.LEASE_MISSED_BEATS


def _key(name: str) -> str:
    return f"campaign/{name}"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # a client without tz_aware
        return value.replace(tzinfo=dt.UTC)
    return value


def _describe(holder: dict[str, Any], heartbeat_at: dt.datetime | None) -> str:
    since = _aware(holder.get("since"))
    beat = _aware(heartbeat_at)
    ago = f", {(_now() - beat).total_seconds():.0f} s ago" if beat else ""
    return (
        f"host {holder.get('host')} pid {holder.get('pid')} since "
        f"{since.isoformat(timespec='seconds') if since else '?'} (last heartbeat "
        f"{beat.isoformat(timespec='seconds') if beat else 'never'}{ago})"
    )


class LeaseHeldError(RuntimeError):
    """Another live runner holds the campaign's lease; the message says who and since when."""

    def __init__(self, name: str, doc: dict[str, Any]) -> None:
        self.campaign = name
        self.holder = dict(doc.get("holder") or {})
        self.heartbeat_at = _aware(doc.get("heartbeat_at"))
        super().__init__(
            f"campaign {name!r} is being run by {_describe(self.holder, self.heartbeat_at)}; "
            "not starting a second runner (wait for it with --wait, or stop it)"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return {
            "error": "campaign_running",
            "message": str(self),
            "campaign": self.campaign,
            "holder": {k: v for k, v in self.holder.items() if k != "token"},
            "heartbeat_at": self.heartbeat_at,
        }


@dataclass
class CampaignLease:
    """A held lease: beats in a daemon thread until :meth:`release` (or the ``with`` exit)."""

    collection: Collection
    name: str
    holder: dict[str, Any]
    heartbeat_s: float
    took_over: dict[str, Any] | None = None
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> CampaignLease:
        """Start the heartbeat thread (done by :func:`acquire_lease`)."""
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.name}", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                res = self.collection.update_one(
                    {"_id": _key(self.name), "holder.token": self.holder["token"]},
                    {"$set": {"heartbeat_at": _now()}},
                )
            except ConnectionFailure as exc:  # the expiry is several beats: ride it out
                logger.warning("lease %s: heartbeat not written (%s)", self.name, exc)
                continue
            if not res.matched_count and not self.lost:
                self.lost = True
                logger.error("lease %s: taken over by another runner", self.name)

    def release(self) -> None:
        """Stop beating and free the lease (kept as ``last_holder`` for ``campaign status``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
        now = _now()
        retry_call(
            lambda: self.collection.update_one(
                {"_id": _key(self.name), "holder.token": self.holder["token"]},
                {"$set": {"last_holder": self.holder, "holder": None, "released_at": now}},
            ),
            what="release the campaign lease",
        )

    def __enter__(self) -> CampaignLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lease(
    stores: GenflowStores,
    name: str,
    *,
    wait: bool = False,
    on_wait: Any = None,
) -> CampaignLease:
    """Take the campaign's lease (or an expired one) and start its heartbeat.

    Parameters
    ----------
    wait
        While a live runner holds it, poll every heartbeat instead of raising.
    on_wait
        Called once with the :class:`LeaseHeldError` when waiting starts (the CLI prints it).

    Raises
    ------
    LeaseHeldError
        A live runner holds the lease and ``wait`` is false.
    """
    heartbeat_s, expiry_s = _timing()
    coll = stores.db[LEASES]
    token = uuid.uuid4().hex
    told = False
    while True:
        now = _now()
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": now, "token": token}
        before = _try_acquire(coll, name, holder, now, expiry_s)
        if before is not None:
            took_over = before.get("holder")
            if took_over:
                logger.warning(
                    "campaign %s: took over the lease of %s", name, _describe(took_over, None)
                )
            return CampaignLease(coll, name, holder, heartbeat_s, took_over=took_over).start()
        doc = retry_call(lambda: coll.find_one({"_id": _key(name)}), what="read the lease") or {}
        err = LeaseHeldError(name, doc)
        if not wait:
            raise err
        if not told and on_wait is not None:
            on_wait(err)
        told = True
        time.sleep(heartbeat_s)


def _try_acquire(
    coll: Collection, name: str, holder: dict[str, Any], now: dt.datetime, expiry_s: float
) -> dict[str, Any] | None:
    """The lease document before we took it (``{}`` if new), or None when it is held."""
    stale = now - dt.timedelta(seconds=expiry_s)
    free_or_expired = {"$or": [{"holder": None}, {"heartbeat_at": {"$lt": stale}}]}
    try:
        before = retry_call(
            lambda: coll.find_one_and_update(
                {"_id": _key(name), **free_or_expired},
                {"$set": {"campaign": name, "holder": holder, "heartbeat_at": now}},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            ),
            what="acquire the campaign lease",
        )
    except DuplicateKeyError:  # the document exists and its holder is alive
        return None
    return before or {}


def lease_info(stores: GenflowStores, name: str) -> dict[str, Any] | None:
    """The campaign's lease for ``campaign status`` (None: never run locally under a lease).

    ``holder`` (host, pid, since) is the live or dead runner (None once released);
    ``alive`` is False when its heartbeat is older than the expiry; ``last_holder`` is the
    runner that released it last.
    """
    doc = stores.db[LEASES].find_one({"_id": _key(name)})
    if doc is None:
        return None
    _, expiry_s = _timing()
    beat = _aware(doc.get("heartbeat_at"))
    holder = doc.get("holder")
    age = (_now() - beat).total_seconds() if beat else None

    def public(h: dict | None) -> dict | None:
        return None if h is None else {k: v for k, v in h.items() if k != "token"}

    return {
        "holder": public(holder),
        "heartbeat_at": beat,
        "heartbeat_age_s": round(age, 1) if age is not None else None,
        "alive": bool(holder) and age is not None and age <= expiry_s,
        "expiry_s": expiry_s,
        "last_holder": public(doc.get("last_holder")),
        "released_at": _aware(doc.get("released_at")),
    }
