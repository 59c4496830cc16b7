"""Published reference sets read into the ``references`` collection, one module per family.

=====================  ===================================================================
:mod:`.entries`        pymatgen entry / document JSON: Materials Project dumps, Alexandria
:mod:`.optimade`       OPTIMADE fields: saved API responses, LeMat-Bulk parquet
:mod:`.archives`       zips of CIFs: GNoME's ``by_id.zip``
:mod:`.tables`         CSVs of CIFs: MatterGen's ``alex_mp_20``
:mod:`.importer`       detection, batching, resume and counting (``genflow refs add``)
=====================  ===================================================================
"""

from __future__ import annotations

from genflow.workflows.reference_sources.importer import (
    DEFAULT_SOURCE,
    FORMATS,
    ImportSummary,
    detect_format,
    implied_format,
    import_references,
    read_source,
)

__all__ = [
    "DEFAULT_SOURCE",
    "FORMATS",
    "ImportSummary",
    "detect_format",
    "implied_format",
    "import_references",
    "read_source",
]
