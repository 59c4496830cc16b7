"""genflow: DFT validation of generated crystal structures.

Rooms: ``genflow.model`` (UniMat generator), ``genflow.workflows`` (atomate2 makers),
``genflow.hull`` (convex-hull scoring); this package holds campaigns, the store, settings and
the CLI.
"""

__version__ = "0.1.0"
