"""Chemical-system hull builds spread over worker processes (``ReferenceHull.score(workers=)``).

A cold call on a GNoME-sized hull builds thousands of independent per-system hulls, and ~90 %
of its time is qhull. Systems are independent, so they are split into tasks of a few hundred
and built by ``build_chemsys_hulls`` in ``workers`` processes while the parent prepares the
next task's points. Every system is built by the same function on the same points as in a
single process, so the hulls (and every score) are identical; only the wall time changes.

Workers are forked from the parent (fast, nothing re-imported) when that is safe: one Python
thread and neither JAX nor torch loaded, whose native thread pools a fork cannot copy. Otherwise
they come from a ``forkserver``, which re-imports the caller's main module like ``spawn``
(so a script needs the usual ``if __name__ == "__main__":`` guard).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from genflow.core.processes import pool_context
from genflow.hull.engine import ChemsysHull, HullSpec, build_chemsys_hulls

__all__ = ["MIN_PARALLEL_SYSTEMS", "TASK_SYSTEMS", "build_in_pool", "hull_pool"]

#: Systems to build below which a pool (≈1 s to start) costs more than it saves.
MIN_PARALLEL_SYSTEMS = 500
#: Systems per task: large enough to batch enumerations, small enough to balance workers.
TASK_SYSTEMS = 250


@contextmanager
def hull_pool(workers: int, n_systems: int) -> Iterator[Executor | None]:
    """A process pool of ``workers`` when that many builds are worth it, else None."""
    if workers <= 1 or n_systems < MIN_PARALLEL_SYSTEMS:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=pool_context()) as pool:
        yield pool


def build_in_pool(
    pool: Executor, spec_tasks: Iterable[list[HullSpec]]
) -> list[ChemsysHull | Exception]:
    """Build every task's hulls in ``pool``; results in task, then spec, order.

    ``spec_tasks`` is consumed lazily: the parent computes a task's points while the workers
    build the tasks already submitted.
    """
    futures = [pool.submit(build_chemsys_hulls, specs) for specs in spec_tasks]
    return [hull for future in futures for hull in future.result()]
