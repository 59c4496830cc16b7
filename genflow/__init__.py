"""genflow: DFT validation of generated crystal structures.

Two layers live in this package, and the rooms sit between them:

* ``genflow.core`` — settings, the candidate document and its result records, the store
  (MongoDB / embedded SecantusDB, candidates repository), structure I/O and the composition
  canon. It imports no other part of genflow.
* ``genflow.model`` (generators), ``genflow.hull`` (convex-hull scoring) and
  ``genflow.workflows`` (atomate2 Makers) build on the core only.
* ``genflow.campaign`` — campaign spec, local runner, FireWorks submit, nightly, status,
  hits and the CLI commands — drives the rooms from the top. Nothing imports it.

``genflow.cli`` is the Typer root that wires every room's commands.
"""

__version__ = "0.1.0"
