"""Convex-hull scoring of generated crystals (``genflow.hull``).

Reference hulls (``load_hull``: bundled ``mp2021`` — GNoME's MP snapshot plus an MP-20
supplement of MP hull vertices it lacks and MP hull points derived from MP-20 rows
(``genflow.hull.derived``; completeness measured in ``genflow.hull.completeness``);
``mp2021-snapshot`` without them —, ``gnome``,
``mp-api:<chemsys>``, user files) score candidates' MP2020-compatible energies per atom in
batches: decomposition energy E_d (negative below the hull, GNoME convention), formation
energy, decomposition products, stability flags, and the set metrics of Yang et al. 2023
(# stable / # metastable, Eq. 5; ΔE_f, Eq. 3; E_f reduction rate, Eq. 4; stratified
convergence rate, App. 8).

>>> from genflow.hull import load_hull
>>> hull = load_hull("mp2021")
>>> [s.is_stable for s in hull.score(["Fe2O3"], [-7.0])]  # doctest: +SKIP

The package imports its modules lazily (start-up speed: ``genflow.hull.keys``
alone does not pull in pandas, scipy and pymatgen).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD, HullColumn
    from genflow.hull.loaders import (
        MP_COMPATIBLE_HULLS,
        load_gnome,
        load_hull,
        load_mp2021,
        load_reference_file,
    )
    from genflow.hull.metrics import (
        compare_formation_energies,
        count_below,
        delta_formation_energy,
        formation_energy_reduction_rate,
        lowest_e_form_per_composition,
        stratified_convergence_rate,
        summarize_scores,
    )
    from genflow.hull.mp_api import build_mp_api_hull
    from genflow.hull.records import HullScore
    from genflow.hull.reference import ReferenceHull
    from genflow.hull.results import HullScores

#: Public name → module defining it (imported on first access).
_EXPORTS = {
    "METASTABLE_THRESHOLD": "genflow.hull.keys",
    "STABLE_THRESHOLD": "genflow.hull.keys",
    "HullColumn": "genflow.hull.keys",
    "MP_COMPATIBLE_HULLS": "genflow.hull.loaders",
    "load_gnome": "genflow.hull.loaders",
    "load_hull": "genflow.hull.loaders",
    "load_mp2021": "genflow.hull.loaders",
    "load_reference_file": "genflow.hull.loaders",
    "compare_formation_energies": "genflow.hull.metrics",
    "count_below": "genflow.hull.metrics",
    "delta_formation_energy": "genflow.hull.metrics",
    "formation_energy_reduction_rate": "genflow.hull.metrics",
    "lowest_e_form_per_composition": "genflow.hull.metrics",
    "stratified_convergence_rate": "genflow.hull.metrics",
    "summarize_scores": "genflow.hull.metrics",
    "build_mp_api_hull": "genflow.hull.mp_api",
    "HullScore": "genflow.hull.records",
    "ReferenceHull": "genflow.hull.reference",
    "HullScores": "genflow.hull.results",
}

__all__ = [
    "METASTABLE_THRESHOLD",
    "MP_COMPATIBLE_HULLS",
    "STABLE_THRESHOLD",
    "HullColumn",
    "HullScore",
    "HullScores",
    "ReferenceHull",
    "build_mp_api_hull",
    "compare_formation_energies",
    "count_below",
    "delta_formation_energy",
    "formation_energy_reduction_rate",
    "load_gnome",
    "load_hull",
    "load_mp2021",
    "load_reference_file",
    "lowest_e_form_per_composition",
    "stratified_convergence_rate",
    "summarize_scores",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genflow.hull' has no attribute {name!r}")
