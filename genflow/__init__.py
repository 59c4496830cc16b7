"""genflow: DFT validation of generated crystal structures.

Two layers live in this package, and the rooms sit between them:

* ``genflow.core`` — settings, the candidate document and its result records, the store
  (MongoDB / embedded SecantusDB, candidates repository), structure I/O and the composition
  canon. It imports no other part of genflow.
* ``genflow.model`` (generators), ``genflow.hull`` (convex-hull scoring) and
  ``genflow.workflows`` (atomate2 Makers) build on the core only.
* ``genflow.campaign`` — campaign spec, local runner, FireWorks submit, nightly, status,
  hits — drives the rooms from the top; ``genflow.evaluation`` (proxy metrics, the morning
  report) sits on it.

``genflow.cli`` is the command line on top of every room: one thin Typer module per command
or command group. Nothing imports it.
"""

__version__ = "0.1.0"
