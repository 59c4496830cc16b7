"""Connect to genflow's MongoDB: candidates, campaigns, the jobflow JobStore and the LaunchPad.

Production uses a real MongoDB (``GENFLOW_DB_URI``). Without a URI, :func:`connect` starts or
reuses the embedded SecantusDB server (:mod:`genflow.core.embedded`) with a persistent directory
under ``DATA_DIR`` and then takes exactly the same pymongo code path.

Everything lives in one database (``DB_NAME``):

============================  ==============================================================
``candidates``                :class:`genflow.core.candidates.Candidate` documents
``campaigns``                 one document per campaign (unique ``name``)
``references``                known structures for novelty (:mod:`genflow.core.references`)
``outputs``                   jobflow job outputs (maggma ``MongoStore``)
``outputs_blobs.files/chunks`` large job outputs (maggma ``GridFSStore``, JobStore ``"data"``)
``candidates`` (again)        JobStore ``"genflow"``: how a running job finds this database
``fireworks``, ``launches``,  FireWorks LaunchPad collections
``workflows``, ...
============================  ==============================================================

>>> stores = connect()  # doctest: +SKIP
>>> stores.candidates.count_documents({"state": "scored"})  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import score_path, state_at_path
from genflow.core.candidates.queries import hits_index_keys
from genflow.core.candidates.record import CandidateState
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore
    from pymongo.collection import Collection
    from pymongo.database import Database

    from genflow.core.settings import GenflowSettings

__all__ = [
    "CAMPAIGNS",
    "CANDIDATES",
    "CANDIDATE_STORE_KEY",
    "DEFAULT_SCORE_HULLS",
    "JOB_BLOBS",
    "JOB_DOCS",
    "DatabaseUnreachableError",
    "GenflowStores",
    "check_reachable",
    "connect",
    "database_status",
    "ensure_index",
    "ensure_indexes",
    "ensure_score_index",
    "redact_uri",
    "resolve_uri",
]

logger = logging.getLogger(__name__)

CANDIDATES = "candidates"
CAMPAIGNS = "campaigns"
REFERENCES = "references"
JOB_DOCS = "outputs"
JOB_BLOBS = "outputs_blobs"
EMBEDDED_STORAGE_SUBDIR = "secantus"
# The JobStore's additional store naming the candidate database (workflows.job_store).
CANDIDATE_STORE_KEY = "genflow"
# Wait this long for a server before an operation fails (and genflow.core.retry retries it):
# short, so a retry loop with a log line owns the waiting, not a silent 30 s pymongo default.
SERVER_SELECTION_TIMEOUT_MS = 5_000
DEFAULT_SCORE_HULLS = ("mp2021", "gnome")
_UNAUTHORIZED = 13

# (collection, keys, options). Every index is created with background=True: SecantusDB compares
# the `background` flag when an index is re-created (real MongoDB ignores it), and FireWorks'
# tuneup and maggma's ensure_index both use background=True, so the same flag everywhere keeps
# re-creation harmless. `ensure_index` additionally skips keys that already exist.
_INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    # Candidates: each index costs ~0.07 ms per inserted document on SecantusDB, so only the
    # ones queries use: upsert key, per-campaign and per-state work lists, the duplicate
    # gate's reduced-formula buckets, chemical-system scans, time windows, task → candidate.
    (CANDIDATES, [(K.CANDIDATE_ID.value, ASCENDING)], {"unique": True}),
    (CANDIDATES, [(K.CAMPAIGN.value, ASCENDING), (K.STATE.value, ASCENDING)], {}),
    (CANDIDATES, [(K.STATE.value, ASCENDING)], {}),
    (CANDIDATES, [(K.REDUCED_FORMULA.value, ASCENDING)], {}),
    (CANDIDATES, [(K.CHEMSYS.value, ASCENDING)], {}),
    (CANDIDATES, [(K.CREATED_AT.value, DESCENDING)], {}),
    (CANDIDATES, [(state_at_path(CandidateState.SCORED), DESCENDING)], {}),
    (CANDIDATES, [(K.RELAX_TASK_UUIDS.value, ASCENDING)], {}),
    (CAMPAIGNS, [("name", ASCENDING)], {"unique": True}),
    # Known structures for the novelty gate (genflow.core.references).
    (REFERENCES, [("source", ASCENDING), ("ref_id", ASCENDING)], {"unique": True}),
    (REFERENCES, [("reduced_formula", ASCENDING)], {}),
    (REFERENCES, [("chemsys", ASCENDING)], {}),
    # jobflow writes with ReplaceOne keyed on (uuid, index); hosts serves flow-level queries.
    (JOB_DOCS, [("uuid", ASCENDING), ("index", ASCENDING)], {"unique": True}),
    (JOB_DOCS, [("hosts", ASCENDING)], {}),
    (JOB_DOCS, [("completed_at", DESCENDING)], {}),
    (f"{JOB_BLOBS}.files", [("metadata.blob_uuid", ASCENDING)], {}),
    (f"{JOB_BLOBS}.files", [("metadata.job_uuid", ASCENDING)], {}),
]


class DatabaseUnreachableError(RuntimeError):
    """The database did not answer within ``DB_TIMEOUT_S`` when a command first contacted it.

    Not a ``ConnectionFailure``: :func:`genflow.core.retry.retry_call` must not wait it out.
    The message is one line naming the URI (password masked) and what to check.
    """

    def __init__(self, uri: str, timeout_s: float, cause: BaseException) -> None:
        self.uri = redact_uri(uri)
        self.timeout_s = timeout_s
        # pymongo appends its timeouts and the whole topology: the first reason is enough
        text = str(cause).splitlines()[0] if str(cause) else ""
        text = text.split(" (configured timeouts")[0].split(", Timeout:")[0]
        self.cause = f"{type(cause).__name__}: {text[:200]}"
        self.check = (
            "check that the server runs and its host/port are reachable from here, or set "
            "GENFLOW_DB_URI (the wait: GENFLOW_DB_TIMEOUT_S)"
        )
        super().__init__(
            f"database unreachable: {self.uri} did not answer within {timeout_s:g} s "
            f"({self.cause}); {self.check}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON error object a ``--json`` command prints."""
        return {
            "error": "database_unreachable",
            "message": str(self),
            "uri": self.uri,
            "timeout_s": self.timeout_s,
            "cause": self.cause,
            "check": self.check,
        }


def check_reachable(uri: str, timeout_s: float) -> None:
    """Ping ``uri`` once, waiting at most ``timeout_s``; raise :class:`DatabaseUnreachableError`.

    A separate short-lived client: the stores' own client keeps the short selection timeout
    that :func:`genflow.core.retry.retry_call` loops over during an outage of a running job.
    """
    ms = max(1, int(timeout_s * 1000))
    client: MongoClient = MongoClient(
        uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        raise DatabaseUnreachableError(uri, timeout_s, exc) from exc
    finally:
        client.close()


def ensure_index(collection: Collection, keys: list[tuple[str, int]], **options: Any) -> bool:
    """Create an index unless one with the same key pattern exists; return True if created.

    Idempotent and safe on SecantusDB (see ``_INDEXES``). A concurrent creator winning the
    race (IndexOptionsConflict/IndexKeySpecsConflict) counts as success.
    """
    wanted = [(k, int(d)) for k, d in keys]
    for info in collection.index_information().values():
        if [(k, int(d)) for k, d in info["key"]] == wanted:
            return False
    try:
        collection.create_index(keys, background=True, **options)
    except OperationFailure as exc:
        if exc.code not in (85, 86):  # another process created it meanwhile
            raise
        return False
    return True


def ensure_score_index(db: Database, hull: str) -> list[str]:
    """Index a hull's scores; return the key patterns created (``+``-joined).

    ``scores.<hull>.e_d`` (E_d sorts, and the clause SecantusDB looks up first for a hits
    filter no compound index covers), and the hits indexes of
    :func:`~genflow.core.candidates.queries.hits_index_keys`, with and without ``campaign``:
    the hit rule's null predicates are equalities there, so ``genflow hits`` is an index
    scan on SecantusDB too, not only on MongoDB.
    """
    created = []
    for keys in (
        [(score_path(hull, K.E_D), ASCENDING)],
        hits_index_keys(hull),
        hits_index_keys(hull, by_campaign=True),
    ):
        if ensure_index(db[CANDIDATES], keys):
            created.append("+".join(k for k, _ in keys))
    return created


def ensure_indexes(db: Database, score_hulls: tuple[str, ...] = DEFAULT_SCORE_HULLS) -> list[str]:
    """Create genflow's indexes (candidates, campaigns, JobStore); return the new ones."""
    created = []
    for coll, keys, options in _INDEXES:
        if ensure_index(db[coll], keys, **options):
            created.append(f"{coll}:{'+'.join(k for k, _ in keys)}")
    for hull in score_hulls:
        created += [f"{CANDIDATES}:{keys}" for keys in ensure_score_index(db, hull)]
    return created


def resolve_uri(settings: GenflowSettings) -> str:
    """Return ``DB_URI``, or start/reuse the embedded server under ``DATA_DIR`` and return its."""
    if settings.DB_URI:
        return settings.DB_URI
    from genflow.core.embedded import ensure_server

    data_dir = Path(settings.DATA_DIR).expanduser()
    return ensure_server(
        data_dir / EMBEDDED_STORAGE_SUBDIR, settings.EMBEDDED_PORT, run_dir=data_dir
    )


def database_status(settings: GenflowSettings) -> dict[str, Any]:
    """Which database genflow uses and whether it answers; never starts anything.

    With ``DB_URI`` set: ``mode`` ``"uri"``, ``reachable`` and ``db_name``. Otherwise the
    embedded server's ``uri``, ``reachable``, ``pid`` (None: not running), ``storage`` folder
    and ``db_name``.
    """
    from genflow.core.embedded import ping, server_pid, server_uri

    if settings.DB_URI:
        client: MongoClient = MongoClient(settings.DB_URI, serverSelectionTimeoutMS=3000)
        try:
            client.admin.command("ping")
            up = True
        except Exception:
            up = False
        finally:
            client.close()
        return {"mode": "uri", "reachable": up, "db_name": settings.DB_NAME}
    port = settings.EMBEDDED_PORT
    return {
        "mode": "embedded",
        "uri": server_uri(port),
        "reachable": ping(port),
        "pid": server_pid(port, settings.DATA_DIR),
        "storage": str(settings.DATA_DIR / EMBEDDED_STORAGE_SUBDIR),
        "db_name": settings.DB_NAME,
    }


class GenflowStores:
    """Handles to everything genflow stores, all in one database.

    Attributes
    ----------
    uri, db_name
        Where the data lives.
    client, db
        pymongo client (``tz_aware``) and database.
    candidates, campaigns, references
        pymongo collections.
    job_store
        jobflow ``JobStore`` (connected on first use).
    launchpad
        FireWorks ``LaunchPad`` (id counters initialised on first use).
    """

    def __init__(self, uri: str, db_name: str, *, create_indexes: bool = True) -> None:
        self.uri = uri
        self.db_name = db_name
        self.client: MongoClient = MongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        self.db: Database = self.client[db_name]
        self.candidates: Collection = self.db[CANDIDATES]
        self.campaigns: Collection = self.db[CAMPAIGNS]
        self.references: Collection = self.db[REFERENCES]
        if create_indexes:
            try:
                retry_call(lambda: ensure_indexes(self.db), what="create indexes")
            except OperationFailure as exc:
                if exc.code != _UNAUTHORIZED:
                    raise
                # A read-only account (e.g. for `genflow hits`) can still query.
                logger.warning("no permission to create indexes on %s: %s", db_name, exc)

    @classmethod
    def from_job_store(cls, job_store: JobStore) -> GenflowStores:
        """Open the candidate database a JobStore names as its ``"genflow"`` additional store.

        Raises
        ------
        RuntimeError
            If the JobStore has no such store (the message says how to add it).
        """
        store = job_store.additional_stores.get(CANDIDATE_STORE_KEY)
        uri = getattr(store, "uri", None)
        if store is None or uri is None:
            raise RuntimeError(
                f"the JobStore has no {CANDIDATE_STORE_KEY!r} additional store with a URI: add "
                "one to the worker's jobflow config (see deploy/jobflow.yaml), e.g. a "
                "maggma MongoStore on the genflow database's 'candidates' collection"
            )
        return cls(uri, store.database, create_indexes=False)

    def __repr__(self) -> str:
        return f"GenflowStores(uri={redact_uri(self.uri)!r}, db_name={self.db_name!r})"

    def __enter__(self) -> GenflowStores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobflow ------------------------------------------------------------------------------

    def make_job_store(self) -> JobStore:
        """Return a new, unconnected JobStore on this database (docs + GridFS ``data``)."""
        from jobflow import JobStore

        from genflow.core.retrying_stores import RetryingGridFSStore, RetryingMongoStore

        where = {"database": self.db_name, "uri": self.uri}
        docs = RetryingMongoStore(collection_name=JOB_DOCS, **where)
        blobs = RetryingGridFSStore(collection_name=JOB_BLOBS, **where)
        candidates = RetryingMongoStore(collection_name=CANDIDATES, **where)
        # atomate2 sends large outputs (band structures, trajectories) to the "data" store;
        # campaign jobs find the candidate database through the "genflow" store.
        return JobStore(docs, additional_stores={"data": blobs, CANDIDATE_STORE_KEY: candidates})

    @cached_property
    def job_store(self) -> JobStore:
        """The connected jobflow ``JobStore``."""
        store = self.make_job_store()
        store.connect()
        return store

    # -- FireWorks ----------------------------------------------------------------------------

    def launchpad_dict(self) -> dict[str, Any]:
        """Return ``LaunchPad.from_dict`` arguments for this database (URI mode)."""
        return {"host": self.uri, "name": self.db_name, "uri_mode": True, "strm_lvl": "WARNING"}

    @cached_property
    def launchpad(self) -> LaunchPad:
        """The FireWorks ``LaunchPad`` on this database, ready for ``add_wf``.

        Creates the id counters if missing (what ``lpad reset`` does, without deleting
        anything) and FireWorks' own indexes once, through ``LaunchPad.tuneup`` with
        ``background=True`` (never ``--full``: SecantusDB rejects the flag change).
        """
        from fireworks import LaunchPad

        lpad = LaunchPad.from_dict(self.launchpad_dict())
        lpad.fw_id_assigner.update_one(
            {"_id": -1}, {"$setOnInsert": {"next_fw_id": 1, "next_launch_id": 1}}, upsert=True
        )
        if "fw_id_1" not in lpad.fireworks.index_information():
            try:
                lpad.tuneup(bkground=True)
            except OperationFailure as exc:  # a concurrent tuneup won the race
                if exc.code not in (85, 86):
                    raise
        return lpad

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every client opened by this object."""
        if "job_store" in self.__dict__:
            self.job_store.close()
            del self.__dict__["job_store"]
        if "launchpad" in self.__dict__:
            self.launchpad.connection.close()
            del self.__dict__["launchpad"]
        self.client.close()


def redact_uri(uri: str) -> str:
    """The URI with its password masked, for logs, reprs and error lines.

    >>> redact_uri("mongodb://ann:s3cret@db.example:27017/genflow")
    'mongodb://ann:***@db.example:27017/genflow'
    """
    if "@" not in uri or "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    userinfo, host = rest.split("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else f"{scheme}://{user}@{host}"


def _uri_database(uri: str) -> str | None:
    """Return the database named in a MongoDB URI's path, if any (no DNS lookup for +srv)."""
    rest = uri.split("://", 1)[-1].split("?", 1)[0]
    name = rest.split("/", 1)[1] if "/" in rest else ""
    return unquote(name) or None


def connect(
    settings: GenflowSettings | None = None,
    *,
    uri: str | None = None,
    db_name: str | None = None,
    create_indexes: bool = True,
) -> GenflowStores:
    """Return :class:`GenflowStores` for the configured database.

    Parameters
    ----------
    settings
        Settings (default ``get_settings()``): ``DB_URI``, ``DB_NAME``, ``DATA_DIR``,
        ``EMBEDDED_PORT``.
    uri
        Overrides ``settings.DB_URI``. With neither, the embedded SecantusDB server is started
        or reused (persistent directory ``DATA_DIR/secantus``, port ``EMBEDDED_PORT``).
    db_name
        Database name; default: the URI's database if it names one, else ``settings.DB_NAME``.
    create_indexes
        Create missing indexes (idempotent; one ``listIndexes`` per collection).
    """
    if settings is None:
        from genflow.core.settings import get_settings

        settings = get_settings()
    uri = uri or resolve_uri(settings)
    if db_name is None:
        db_name = _uri_database(uri) or settings.DB_NAME
    logger.debug("connecting to %s / %s", redact_uri(uri), db_name)
    # A command fails within DB_TIMEOUT_S, not after the retry budget of running jobs.
    check_reachable(uri, settings.DB_TIMEOUT_S)
    return GenflowStores(uri, db_name, create_indexes=create_indexes)
