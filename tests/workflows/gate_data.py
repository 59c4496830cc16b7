"""Real MP-20 structures for the gate tests (tests/test_data/structures/mp20_small.json.gz)."""

from __future__ import annotations

import gzip
import json
import warnings
from functools import cache
from pathlib import Path

from pymatgen.core import Structure

DATA = Path(__file__).resolve().parents[1] / "test_data" / "structures" / "mp20_small.json.gz"


@cache
def mp20_rows() -> dict[str, dict]:
    with gzip.open(DATA, "rt") as f:
        return {row["material_id"]: row for row in json.load(f)["rows"]}


def mp20(material_id: str) -> Structure:
    """A fresh copy of one MP-20 structure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(mp20_rows()[material_id]["cif"], fmt="cif")
