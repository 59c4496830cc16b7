"""Locations of the data files bundled with ``genflow.hull`` (see ``hull/data/README.md``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "ELEMENTAL_FILE", "MP20_ROWS_FILE", "MP2021_FILE", "SNAPSHOT_FILE"]

DATA_DIR = Path(__file__).resolve().parent / "data"
#: GNoME's Materials Project snapshot (raw GGA/GGA+U energies), gzipped byte-for-byte copy.
SNAPSHOT_FILE = DATA_DIR / "mp_materials_summary.csv.gz"
#: MP elemental reference entries (matbench-discovery, 2023-02-07).
ELEMENTAL_FILE = DATA_DIR / "2023-02-07-mp-elemental-reference-entries.json.gz"
#: The cached, MP2020-corrected ``mp2021`` table written by ``genflow.hull.build_mp2021``.
MP2021_FILE = DATA_DIR / "mp2021_mp2020.csv.gz"
#: Every bundled MP-20 row (ids, compositions, MP2020 E_f, e_above_hull, parts): supplement and
#: derived hull points come from it.
MP20_ROWS_FILE = DATA_DIR / "mp20_rows.csv.gz"
