"""Set metrics on hand-computed cases: Eq. 3, Eq. 4, Eq. 5 and App. 8."""

from __future__ import annotations

import math

import pytest

from genflow.hull import (
    HullScore,
    compare_formation_energies,
    count_below,
    delta_formation_energy,
    formation_energy_reduction_rate,
    lowest_e_form_per_composition,
    stratified_convergence_rate,
    summarize_scores,
)

# Set A: Fe2O3 twice (lowest -1.70 counts), LiF only in A, NaCl matched via a scaled formula.
SET_A = [("Fe2O3", -1.60), ("Fe4O6", -1.70), ("NaCl", -2.00), ("LiF", -3.0), ("SiO2", -2.9)]
# Set B: Fe2O3 -1.65; NaCl written as Na2Cl2 twice; KBr only in B; SiO2 with a NaN (failed).
SET_B = [("Fe2O3", -1.65), ("Na2Cl2", -1.90), ("NaCl", -1.80), ("KBr", -1.5), ("SiO2", math.nan)]


def test_lowest_e_form_per_composition() -> None:
    assert lowest_e_form_per_composition(SET_A) == {
        "Fe2O3": -1.70,
        "NaCl": -2.00,
        "LiF": -3.0,
        "SiO2": -2.9,
    }
    assert lowest_e_form_per_composition(SET_B) == {"Fe2O3": -1.65, "NaCl": -1.90, "KBr": -1.5}


def test_delta_formation_energy_eq3() -> None:
    # matched: Fe2O3 (-1.70 vs -1.65) and NaCl (-2.00 vs -1.90); SiO2 failed in B.
    expected = ((-1.70 - -1.65) + (-2.00 - -1.90)) / 2
    assert delta_formation_energy(SET_A, SET_B) == pytest.approx(expected)
    assert delta_formation_energy(SET_B, SET_A) == pytest.approx(-expected)


def test_reduction_rate_eq4() -> None:
    assert formation_energy_reduction_rate(SET_A, SET_B) == pytest.approx(1.0)
    assert formation_energy_reduction_rate(SET_B, SET_A) == pytest.approx(0.0)
    mixed = [("Fe2O3", -1.60), ("NaCl", -2.00)]  # worse on Fe2O3, better on NaCl
    assert formation_energy_reduction_rate(mixed, SET_B) == pytest.approx(0.5)
    tie = [("Fe2O3", -1.65)]  # equal is not a reduction
    assert formation_energy_reduction_rate(tie, SET_B) == 0.0


def test_compare_reports_matching() -> None:
    result = compare_formation_energies(SET_A, SET_B)
    assert result["n_matched"] == 2
    assert result["n_only_a"] == 2  # LiF, SiO2
    assert result["n_only_b"] == 1  # KBr
    assert "lowest E_f per composition" in result["matching"]


def test_no_match_gives_nan() -> None:
    assert math.isnan(delta_formation_energy([("LiF", -3.0)], [("KBr", -1.5)]))
    assert math.isnan(formation_energy_reduction_rate({}, {"KBr": -1.5}))


def test_counts_eq5() -> None:
    e_d = [-0.1, 0.0, 0.01, 0.025, 0.3, None, math.nan]
    assert count_below(e_d, 0.0) == 1
    assert count_below(e_d, 0.025) == 3
    scores = [HullScore(formula="X", e_d=e) for e in e_d[:5]] + [HullScore.failed("bad row")]
    summary = summarize_scores(scores)
    assert summary["n_rows"] == 6
    assert summary["n_scored"] == 5
    assert summary["n_failed"] == 1
    assert summary["n_stable"] == 1
    assert summary["n_metastable"] == 3
    assert summary["median_e_d"] == pytest.approx(0.01)
    assert math.isnan(summarize_scores([HullScore.failed("x")])["median_e_d"])


def test_stratified_convergence_rate_app8() -> None:
    # strata: 3/4 converged standing for 100 compositions, 1/2 for 300 → 0.25·0.75 + 0.75·0.5
    assert stratified_convergence_rate([(3, 4, 100), (1, 2, 300)]) == pytest.approx(0.5625)
    assert stratified_convergence_rate([(0, 0, 0), (2, 2, 5)]) == pytest.approx(1.0)
    assert math.isnan(stratified_convergence_rate([]))
    assert math.isnan(stratified_convergence_rate([(0, 0, 10)]))  # size but no attempts
    with pytest.raises(ValueError, match="converged > tried"):
        stratified_convergence_rate([(5, 4, 10)])
    with pytest.raises(ValueError, match="negative"):
        stratified_convergence_rate([(1, 4, -1)])
