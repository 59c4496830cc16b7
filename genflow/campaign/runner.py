"""Run a campaign in this process: jobflow's ``run_locally`` against the store's JobStore.

The runner only runs. It takes the campaign's lease (one runner per campaign:
:mod:`genflow.campaign.lease`), claims the campaign, builds the batch flows, runs them in a
worker thread and, while they run, hands the stage counts it reads from the store to
``on_progress`` (the CLI's view draws bars from them; a library caller may pass nothing).
What happened comes back as a :class:`CampaignRun`: the status report, elapsed time, and the
jobs that failed, read from job states (a job that ran without a response is a failed job),
never from log text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo.errors import ConnectionFailure

from genflow.campaign.flows import build_flows, expected_samples
from genflow.campaign.lease import LeaseHeldError, acquire_lease
from genflow.campaign.ledger import claim_campaign, set_state
from genflow.campaign.spec import check_campaign_name
from genflow.campaign.status import campaign_report, stage_counts
from genflow.core.progress import stage
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from jobflow import Flow

    from genflow.campaign.spec import CampaignSpec
    from genflow.core.store import GenflowStores

__all__ = ["CampaignRun", "FailedJob", "ProgressCallback", "run_campaign", "run_dir"]

#: Called about twice a second during a run with (stage counts, expected samples or None).
ProgressCallback = Callable[[dict[str, int], int | None], None]
POLL_S = 0.5


@dataclass(frozen=True)
class FailedJob:
    """A job of the run that raised: no response was recorded for it."""

    name: str
    uuid: str


@dataclass(frozen=True)
class CampaignRun:
    """What one local run did: the campaign report plus run facts."""

    report: dict[str, Any]
    already_completed: bool = False
    elapsed_s: float | None = None
    run_dir: str | None = None
    failed_jobs: list[FailedJob] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What an operator must look at: failed jobs, inputs that could not be read.

        Gate rejections (validity, duplicates, novelty) are results, not problems; a record
        rejected at ``parse`` is an input the campaign could not read. ``campaign run`` exits
        5 when this list is not empty.
        """
        out = []
        if self.failed_jobs:
            out.append(f"{len(self.failed_jobs)} job(s) failed")
        if n := (self.report.get("failure_counts") or {}).get("parse", 0):
            out.append(f"{n} input record(s) could not be read (rejected at parse)")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's keys plus ``elapsed_s``, ``failed_jobs``, ...)."""
        return {
            **self.report,
            "already_completed": self.already_completed,
            "elapsed_s": self.elapsed_s,
            "run_dir": self.run_dir,
            "failed_jobs": [vars(j) for j in self.failed_jobs],
            "problems": self.problems(),
        }


def run_dir(name: str) -> Path:
    """Working directory (and log file home) of a local run: ``DATA_DIR/runs/<name>``."""
    from genflow.core.settings import get_settings

    path = Path(get_settings().DATA_DIR) / "runs" / check_campaign_name(name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_campaign(
    spec: CampaignSpec,
    *,
    name: str | None = None,
    stores: GenflowStores | None = None,
    root_dir: str | Path | None = None,
    on_progress: ProgressCallback | None = None,
    wait: bool = False,
    on_wait: Callable[[LeaseHeldError], None] | None = None,
) -> CampaignRun:
    """Run the whole campaign here and return what happened.

    A campaign that already completed under ``name`` is not run again: its report comes back
    with ``already_completed=True`` (pass another ``name`` to re-run). One runner per
    campaign: the run holds the campaign's lease (:mod:`genflow.campaign.lease`); with
    ``wait`` it waits for a live holder to finish (``on_wait`` is told once), else it raises.
    A lease whose runner died is taken over and the campaign resumes.

    Raises
    ------
    genflow.campaign.lease.LeaseHeldError
        Another live runner holds the campaign (and ``wait`` is false).
    genflow.campaign.ledger.CampaignExistsError
        ``name`` exists with another spec, or as a FireWorks campaign.
    """
    from genflow.core.store import connect

    name = check_campaign_name(name or spec.name)
    stage("connecting to the database")
    stores = stores or connect()
    # One runner per campaign: a second run stops here (or waits), naming the holder.
    with acquire_lease(stores, name, wait=wait, on_wait=on_wait):
        return _run_claimed(spec, name, stores, root_dir, on_progress)


def _run_claimed(
    spec: CampaignSpec,
    name: str,
    stores: GenflowStores,
    root_dir: str | Path | None,
    on_progress: ProgressCallback | None,
) -> CampaignRun:
    """The run itself, under the campaign's lease."""
    doc, created = claim_campaign(stores, spec, name, "local")
    if not created and doc.get("state") == "completed":
        return CampaignRun(report=campaign_report(stores, name, spec.hulls), already_completed=True)
    if not created:  # resumed (the last runner stopped or was killed): running again
        set_state(stores, name, "running")
    stage("building the workflows")
    flows = [flow for _, flow in build_flows(spec, name)]
    root = Path(root_dir) if root_dir is not None else run_dir(name)
    start = time.monotonic()
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=_run_flows, args=(flows, name, stores, root, outcome), name=f"campaign {name}"
    )
    worker.start()
    expected = expected_samples(spec)
    while worker.is_alive():
        _progress(on_progress, stores, name, expected)
        worker.join(POLL_S)
    if "error" in outcome:
        raise outcome["error"]
    _progress(on_progress, stores, name, expected)
    failed = _failed_jobs(flows, outcome["responses"])
    set_state(stores, name, "completed", run_dir=str(root))
    report = retry_call(lambda: campaign_report(stores, name, spec.hulls), what="read the report")
    return CampaignRun(
        report=report,
        elapsed_s=round(time.monotonic() - start, 1),
        run_dir=str(root),
        failed_jobs=failed,
    )


def _progress(
    on_progress: ProgressCallback | None, stores: GenflowStores, name: str, expected: int | None
) -> None:
    if on_progress is None:
        return
    try:
        counts = stage_counts(stores, name)
    except ConnectionFailure:  # the database is away: the jobs retry, the bars just wait
        return
    on_progress(counts, expected)


def _run_flows(
    flows: list[Flow], name: str, stores: GenflowStores, root: Path, outcome: dict
) -> None:
    """Worker thread: run every batch flow; store the responses or the error in ``outcome``."""
    from jobflow import Flow
    from jobflow.managers.local import run_locally

    try:
        outcome["responses"] = run_locally(
            Flow(flows, name=name),
            store=stores.job_store,
            create_folders=True,
            root_dir=str(root),
            log=False,
        )
    except BaseException as err:  # re-raised in the caller's thread
        outcome["error"] = err


def _failed_jobs(flows: list[Flow], responses: dict[str, dict[int, Any]]) -> list[FailedJob]:
    """Jobs with no response: the batch flows' own jobs and the jobs added at run time."""
    jobs = {j.uuid: j.name for flow in flows for j, _ in flow.iterflow()}
    for per_index in responses.values():
        for response in per_index.values():
            for extra in (response.addition, response.detour, response.replace):
                if extra is None:
                    continue
                items = extra if isinstance(extra, list) else [extra]
                for item in items:
                    if hasattr(item, "iterflow"):
                        jobs |= {j.uuid: j.name for j, _ in item.iterflow()}
                    else:
                        jobs[item.uuid] = item.name
    return [FailedJob(name=n, uuid=u) for u, n in jobs.items() if u not in responses]
