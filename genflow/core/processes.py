"""One rule for starting worker processes safely.

``fork`` is the fastest start method and shares the parent's memory, but forking a process
whose other threads hold locks (JAX's and torch's thread pools, a progress bar's refresh
thread) can deadlock the child. Pools that may run in such a parent ask here for a context.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from multiprocessing.context import BaseContext

__all__ = ["pool_context"]


def pool_context() -> BaseContext:
    """``fork`` when the parent has no threads a fork could break, else ``forkserver``.

    A ``forkserver`` child starts a fresh interpreter, so the calling script needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    threaded = threading.active_count() > 1 or any(m in sys.modules for m in ("jax", "torch"))
    return multiprocessing.get_context("forkserver" if threaded else "fork")
