"""Column names and thresholds of the hull room: one ``HullColumn`` StrEnum names every column.

``HullColumn`` names the columns of the hull room's tables (inputs, per-row scores, set
summaries); the key a hull's scores are stored under in a candidate document is something
else, ``genflow.core.candidates.score_key``. Energies are eV/atom throughout; both threshold
comparisons are strict (``<``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["METASTABLE_THRESHOLD", "STABLE_THRESHOLD", "HullColumn"]

#: E_d (eV/atom) below which a candidate is stable: below the reference hull (GNoME convention).
STABLE_THRESHOLD = 0.0
#: E_d (eV/atom) below which a candidate is metastable (Yang et al. 2023, Eq. 5).
METASTABLE_THRESHOLD = 0.025


class HullColumn(StrEnum):
    """Names of the input, per-row score and set-summary columns (eV/atom for every energy)."""

    # inputs
    composition = "composition"
    energy_per_atom = "energy_per_atom"
    energy = "energy"
    material_id = "material_id"
    # per-row scores
    formula = "formula"
    e_d = "e_d"
    e_form = "e_form"
    e_hull = "e_hull"
    decomposition = "decomposition"
    is_stable = "is_stable"
    is_metastable = "is_metastable"
    error = "error"
    novelty = "novelty"
    implausible = "implausible"
    # set summaries (Eq. 5)
    n_rows = "n_rows"
    n_scored = "n_scored"
    n_failed = "n_failed"
    n_stable = "n_stable"
    n_metastable = "n_metastable"
    median_e_d = "median_e_d"
    n_implausible = "n_implausible"
    # set comparisons (Eq. 3, Eq. 4)
    delta_e_form = "delta_e_form"
    e_form_reduction_rate = "e_form_reduction_rate"
    n_matched = "n_matched"
    n_only_a = "n_only_a"
    n_only_b = "n_only_b"
    matching = "matching"
    # conditional generation (App. 8)
    stratified_convergence_rate = "stratified_convergence_rate"
    # hull metadata
    hull = "hull"
    scheme = "scheme"
