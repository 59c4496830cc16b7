"""Run a campaign locally, or submit it to FireWorks exactly once (also nightly).

- :func:`build_flows` turns a :class:`~genflow.campaign.CampaignSpec` into one jobflow ``Flow``
  per batch, each tagged with a deterministic key ``name:spec_hash:batch``.
- :func:`run_campaign` runs them in this process with jobflow's ``run_locally`` against
  ``connect().job_store`` (rich progress per stage, read from the candidate store).
- :func:`submit_campaign` converts them with ``flow_to_workflow`` (``store=None``: workers read
  the JobStore from their own jobflow config, so no credentials enter the LaunchPad) and adds
  them with ``LaunchPad.bulk_add_wfs``. Idempotency: the campaign document (unique ``name``)
  is claimed with one atomic insert, each batch key with one conditional update, and keys
  already present in the LaunchPad are never added again, so submitting twice, or two
  submitters racing, yields zero duplicate workflows.
- :func:`nightly` submits ``<name>-<date>`` (a no-op when it already exists) and reports the
  hits scored since the previous day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genflow.campaign import CampaignSpec
from genflow.campaign_db import campaign_key
from genflow.candidate import utcnow

if TYPE_CHECKING:
    from jobflow import Flow

    from genflow.store import GenflowStores

__all__ = [
    "CampaignExistsError",
    "SubmitReport",
    "build_flows",
    "campaign_maker",
    "nightly",
    "run_campaign",
    "submit_campaign",
    "worker_env",
]

CLAIM_TIMEOUT = dt.timedelta(minutes=10)  # a batch claimed longer ago by a dead submitter


class CampaignExistsError(ValueError):
    """The campaign name is taken by a campaign with a different spec."""


def campaign_maker(spec: CampaignSpec):
    """Build the :class:`~genflow.workflows.campaign.CampaignMaker` a spec describes."""
    from genflow.workflows.campaign import (
        CampaignMaker,
        GateMaker,
        GenerateMaker,
        ImportStructuresMaker,
        ScoreMaker,
    )
    from genflow.workflows.relax import relax_static_maker

    relax_kwargs = dict(spec.relax.kwargs)
    if spec.engine != "vasp":
        relax_kwargs.setdefault("fmax", spec.relax.fmax)
        relax_kwargs.setdefault("steps", spec.relax.steps)
    if spec.engine == "mlip":
        relax_kwargs.setdefault("force_field", spec.relax.force_field)
    gen = spec.generator
    generate = (
        ImportStructuresMaker()
        if gen.kind == "structures"
        else GenerateMaker(checkpoint=gen.checkpoint)
    )
    gate = GateMaker(
        min_distance=spec.gate.min_distance,
        smact=spec.gate.smact,
        dedupe=spec.gate.dedupe,
        novelty=spec.gate.novelty,
        prescreen=spec.gate.prescreen,
        prescreen_max_ed=spec.gate.prescreen_max_ed,
        hull=spec.hulls[0],
    )
    score = ScoreMaker(
        hulls=tuple(spec.hulls),
        engine=str(spec.engine),
        force=spec.score.force,
        hit_threshold=spec.score.hit_threshold,
    )
    return CampaignMaker(
        generate_maker=generate,
        gate_maker=gate,
        relax_maker=relax_static_maker(str(spec.engine), **relax_kwargs),
        score_maker=score,
        categories=spec.categories.model_dump(),
    )


def _batch_inputs(spec: CampaignSpec) -> list[list[dict]]:
    """Per-batch job inputs: conditions (generator) or file sources (kind=structures)."""
    if spec.generator.kind == "structures":
        files = spec.structure_files()
        size = spec.generator.batch_size
        sources = [{"name": f.name, "text": f.read_text(errors="replace")} for f in files]
        return [sources[i : i + size] for i in range(0, len(sources), size)]
    return [[c.model_dump() for c in batch] for batch in spec.batches()]


def build_flows(spec: CampaignSpec, name: str | None = None) -> list[tuple[str, Flow]]:
    """Return ``(key, flow)`` per batch; the key also goes into every job's metadata."""
    name = name or spec.name
    maker = campaign_maker(spec)
    out = []
    for i, inputs in enumerate(_batch_inputs(spec)):
        key = campaign_key(name, spec.spec_hash(), i)
        flow = maker.make(name, inputs)
        flow.name = f"{name} batch {i}"
        flow.update_metadata({"genflow_key": key})
        out.append((key, flow))
    return out


@contextlib.contextmanager
def worker_env(stores: GenflowStores) -> Iterator[None]:
    """Point in-process jobs (``open_stores``) at ``stores``' database for a local run."""
    saved = {k: os.environ.get(k) for k in ("GENFLOW_DB_URI", "GENFLOW_DB_NAME")}
    os.environ["GENFLOW_DB_URI"], os.environ["GENFLOW_DB_NAME"] = stores.uri, stores.db_name
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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


def _claim_campaign(
    stores: GenflowStores, spec: CampaignSpec, name: str, mode: str
) -> tuple[dict, bool]:
    """Insert the campaign document (atomic on the unique ``name``); return (doc, created)."""
    from pymongo.errors import DuplicateKeyError

    doc = _campaign_doc(spec, name, mode)
    try:
        stores.campaigns.insert_one(dict(doc))
        return doc, True
    except DuplicateKeyError:
        existing = stores.campaigns.find_one({"name": name}, {"_id": 0})
    if existing["spec_hash"] != doc["spec_hash"]:
        raise CampaignExistsError(
            f"campaign {name!r} already exists with a different spec (hash "
            f"{existing['spec_hash']} vs {doc['spec_hash']}); choose another name"
        )
    if existing.get("mode") != mode:
        # Running a submitted campaign here too would relax every candidate twice.
        raise CampaignExistsError(
            f"campaign {name!r} already exists as a {existing.get('mode')} campaign; see "
            f"`genflow campaign status {name}` or choose another name"
        )
    return existing, False


# -- submit ------------------------------------------------------------------------------------


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


def _claim_batch(stores: GenflowStores, name: str, index: int, key: str) -> bool:
    """Atomically claim batch ``index`` (or take over a stale claim); True if we own it."""
    now = utcnow()
    path = f"batches.{index}"
    claimed = stores.campaigns.update_one(
        {"name": name, path: {"$exists": False}},
        {"$set": {path: {"key": key, "state": "claimed", "claimed_at": now}}},
    )
    if claimed.modified_count:
        return True
    stale = stores.campaigns.update_one(
        {
            "name": name,
            f"{path}.state": "claimed",
            f"{path}.claimed_at": {"$lt": now - CLAIM_TIMEOUT},
        },
        {"$set": {f"{path}.claimed_at": now}},
    )
    return bool(stale.modified_count)


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
    CampaignExistsError
        If ``name`` exists with a different spec.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    from genflow.store import connect

    stores = stores or connect()
    name = name or spec.name
    _claim_campaign(stores, spec, name, "fireworks")
    existing: list[str] = []
    lpad = stores.launchpad
    _ensure_launchpad_indexes(lpad)
    flows = build_flows(spec, name)
    mine = {}
    for index, (key, flow) in enumerate(flows):
        if _claim_batch(stores, name, index, key):
            mine[index] = (key, flow)
        else:
            existing.append(key)
    # A claim whose workflow made it into the LaunchPad (submitter died before recording it).
    keys = [k for k, _ in mine.values()]
    present = {
        d["metadata"]["genflow_key"]: d["nodes"]
        for d in lpad.workflows.find(
            {"metadata.genflow_key": {"$in": keys}}, {"metadata": 1, "nodes": 1}
        )
    }
    wfs, added = [], []
    for index, (key, flow) in mine.items():
        if key in present:
            existing.append(key)
            _mark_batch(stores, name, index, present[key])
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
    report_added: list[str] = []
    fw_ids: dict[str, list[int]] = {}
    for index, key, wf in added:
        ids = sorted(wf.id_fw)
        _mark_batch(stores, name, index, ids)
        report_added.append(key)
        fw_ids[key] = ids
    stores.campaigns.update_one(
        {"name": name}, {"$set": {"state": "submitted", "updated_at": utcnow()}}
    )
    return SubmitReport(campaign=name, added=report_added, existing=existing, fw_ids=fw_ids)


def _ensure_launchpad_indexes(lpad: Any) -> None:
    """Index the fields submit and status query (idempotent, background like FireWorks')."""
    from genflow.store import ensure_index

    ensure_index(lpad.workflows, [("metadata.genflow_key", 1)])
    ensure_index(lpad.fireworks, [("spec.genflow_campaign", 1)])


def _mark_batch(stores: GenflowStores, name: str, index: int, fw_ids: list[int]) -> None:
    stores.campaigns.update_one(
        {"name": name},
        {"$set": {f"batches.{index}.state": "submitted", f"batches.{index}.fw_ids": fw_ids}},
    )


# -- nightly -----------------------------------------------------------------------------------


def nightly(
    spec: CampaignSpec, *, date: dt.date | None = None, stores: GenflowStores | None = None
) -> dict[str, Any]:
    """Submit tonight's campaign ``<spec.name>-<date>`` once; report the last day's hits.

    Returns
    -------
    dict
        ``campaign``, ``submitted`` (False on a re-run), ``added``/``existing`` keys and
        ``new_hits`` (hits on each hull of this spec's campaigns scored in the 24 h
        before ``date``'s run).
    """
    from genflow.hits import find_hits
    from genflow.store import connect

    stores = stores or connect()
    date = date or dt.datetime.now(dt.UTC).date()
    name = f"{spec.name}-{date.isoformat()}"
    report = submit_campaign(spec.with_name(name), name=name, stores=stores)
    since = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=1)
    prefix = f"{spec.name}-"
    new_hits = [
        hit.as_dict()
        for hull in spec.hulls
        for hit in find_hits(stores, hull=_key(hull), max_ed=spec.score.hit_threshold, since=since)
        if hit.campaign.startswith(prefix) and hit.campaign != name
    ]
    return {
        "campaign": name,
        "submitted": bool(report.added),
        "added": report.added,
        "existing": report.existing,
        "new_hits": new_hits,
    }


def _key(hull: str) -> str:
    from genflow.workflows.campaign_steps import hull_key

    return hull_key(hull)


# -- local run ---------------------------------------------------------------------------------


def run_campaign(
    spec: CampaignSpec,
    *,
    name: str | None = None,
    stores: GenflowStores | None = None,
    root_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the whole campaign in this process (jobflow ``run_locally``) and return a report.

    A campaign that already completed under ``name`` is not run again: its report is
    returned with ``"already_completed": True`` (pass another ``name`` to re-run).

    Returns
    -------
    dict
        ``campaign``, ``counts`` per state, ``failures`` (rows with reasons), ``hits`` (rows),
        ``elapsed_s``.
    """
    import time

    from jobflow import Flow
    from jobflow.managers.local import run_locally

    from genflow.campaign_status import campaign_report
    from genflow.store import connect

    stores = stores or connect()
    name = name or spec.name
    doc, created = _claim_campaign(stores, spec, name, "local")
    if not created and doc.get("state") == "completed":
        return {**campaign_report(stores, name, spec.hulls), "already_completed": True}
    flows = [flow for _, flow in build_flows(spec, name)]
    root = root_dir or str(_run_dir(name))
    start = time.monotonic()
    errors: list[BaseException] = []
    job_errors: list[str] = []

    def _run() -> None:
        try:
            with worker_env(stores), _job_errors(job_errors):
                run_locally(
                    Flow(flows, name=name),
                    store=stores.job_store,
                    create_folders=True,
                    root_dir=root,
                    log=False,
                )
        except BaseException as err:  # reported after the progress display closes
            errors.append(err)

    worker = threading.Thread(target=_run, name=f"campaign {name}", daemon=True)
    worker.start()
    if progress:
        from genflow.campaign_status import show_progress

        show_progress(stores, name, worker, expected=_expected(spec))
    worker.join()
    if errors:
        raise errors[0]
    stores.campaigns.update_one(
        {"name": name}, {"$set": {"state": "completed", "updated_at": utcnow(), "run_dir": root}}
    )
    report = campaign_report(stores, name, spec.hulls)
    report["elapsed_s"] = round(time.monotonic() - start, 1)
    report["job_errors"] = job_errors
    return report


@contextlib.contextmanager
def _job_errors(found: list[str]) -> Iterator[list[str]]:
    """Collect into ``found`` the errors ``run_locally`` logs for failed jobs (not raised)."""
    import logging

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.INFO and "failed with exception" in record.getMessage():
                found.append(record.getMessage().strip().splitlines()[-1])

    logger = logging.getLogger("jobflow.managers.local")
    handler, old_level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _expected(spec: CampaignSpec) -> int | None:
    if spec.generator.kind == "structures":
        return None
    return sum(c.n_samples for c in spec.conditions())


def _run_dir(name: str):
    from genflow.settings import get_settings

    path = get_settings().DATA_DIR / "runs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
