"""How a campaign job reaches the candidate store: through the JobStore it runs with.

jobflow hands every running job its ``JobStore`` (``CURRENT_JOB.store``). genflow's JobStore
carries the candidate database as the additional store ``"genflow"`` (see
``genflow.core.store.GenflowStores.make_job_store`` and ``deploy/jobflow.yaml``), so a job
opens exactly the database its outputs go to: the local runner's store in a local run, the
worker's own jobflow config under FireWorks. No URI or password is ever serialised into a
workflow, and nothing rewrites the process environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genflow.core.store import GenflowStores

if TYPE_CHECKING:
    from jobflow import JobStore

__all__ = ["candidate_stores"]


def candidate_stores(job_store: JobStore | None = None) -> GenflowStores:
    """Open the candidate database of ``job_store`` (default: the running job's store).

    Raises
    ------
    RuntimeError
        Outside a running job, or when the JobStore lacks the ``"genflow"`` additional store
        (a worker's jobflow config written before it existed).
    """
    if job_store is None:
        from jobflow import CURRENT_JOB

        job_store = CURRENT_JOB.store
    if job_store is None:
        raise RuntimeError("candidate_stores() needs a running jobflow job (or a JobStore)")
    return GenflowStores.from_job_store(job_store)
