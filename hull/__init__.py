"""Convex-hull scoring of generated crystals (``genflow.hull``).

Reference hulls (``load_hull``: bundled ``mp2021`` — GNoME's MP snapshot plus an MP-20
supplement of MP hull vertices it lacks; ``mp2021-snapshot`` without it —, ``gnome``,
``mp-api:<chemsys>``, user files) score candidates' MP2020-compatible energies per atom in
batches: decomposition energy E_d (negative below the hull, GNoME convention), formation
energy, decomposition products, stability flags, and the set metrics of Yang et al. 2023
(# stable / # metastable, Eq. 5; ΔE_f, Eq. 3; E_f reduction rate, Eq. 4; stratified
convergence rate, App. 8).

>>> from genflow.hull import load_hull
>>> hull = load_hull("mp2021")
>>> [s.is_stable for s in hull.score(["Fe2O3"], [-7.0])]  # doctest: +SKIP
"""

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

__all__ = [
    "METASTABLE_THRESHOLD",
    "MP_COMPATIBLE_HULLS",
    "STABLE_THRESHOLD",
    "HullColumn",
    "HullScore",
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
