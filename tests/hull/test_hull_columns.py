"""The columnar scoring path (``HullScores``, bitmask grouping, host memo, worker pool) gives
pymatgen's answers on real bundled entries, edge cases included.

Edge cases: elemental candidates, candidates exactly on the hull, a system whose hull has a
single reference entry, candidates naming an element the hull lacks, unparsable rows and
non-finite energies mixed into one batch, symbols past the first 64-bit mask word.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from genflow.hull import ReferenceHull
from genflow.hull import pool as hull_pool
from genflow.hull.records import HullScore
from genflow.hull.results import HullScores


def _pymatgen(diagram: PhaseDiagram, formula: str, energy: float) -> tuple[dict, float]:
    comp = Composition(formula)
    decomp, e_d = diagram.get_decomp_and_e_above_hull(
        PDEntry(comp, energy * comp.num_atoms), allow_negative=True
    )
    return {e.composition.reduced_formula: float(a) for e, a in decomp.items()}, e_d


def _check_against_pymatgen(hull: ReferenceHull, scores: HullScores, formulas, energies) -> None:
    """Every scored row: columns and the built HullScore equal pymatgen's PhaseDiagram."""
    for i, (formula, energy) in enumerate(zip(formulas, energies, strict=True)):
        if not scores.ok[i]:
            continue
        system = sorted(el.symbol for el in Composition(formula).elements)
        decomp, e_d = _pymatgen(hull.phase_diagram(system), formula, energy)
        assert scores.e_d[i] == pytest.approx(e_d, abs=1e-9), formula
        score = scores[i]
        assert score.e_d == scores.e_d[i]
        assert score.is_stable == bool(scores.is_stable[i]) == (e_d < 0)
        assert score.decomposition.keys() == decomp.keys(), formula
        for name, amount in decomp.items():
            assert score.decomposition[name] == pytest.approx(amount, abs=1e-9)


def test_edge_cases_match_phase_diagram(mp2021: ReferenceHull) -> None:
    li_o = mp2021.hull_for(["Li", "O"])
    vertex = next(int(r) for r in np.unique(li_o.vertex_rows) if len(mp2021.chemsys[r]) == 2)
    on_hull = mp2021.formula(vertex)
    fe = int(mp2021._ref_rows["Fe"])
    formulas = [
        "Fe",  # elemental, above its reference
        "Fe",  # elemental, exactly the reference energy
        on_hull,  # exactly on the hull (a hull vertex's own energy)
        "Fe3O4",
        "Xx2O",  # unparsable
        "FeO",  # non-finite energy
        "LiFeO2",
        "Zr2O",  # Zr lies past symbol 64 of mp2021: second mask word
    ]
    energies = [
        float(mp2021.energies[fe]) + 0.1,
        float(mp2021.energies[fe]),
        float(mp2021.energies[vertex]),
        -6.8,
        -1.0,
        float("nan"),
        -6.0,
        -9.0,
    ]
    mp2021.clear_cache()
    scores = mp2021.score(formulas, energies)
    assert isinstance(scores, HullScores)
    assert scores.e_d[0] == pytest.approx(0.1, abs=1e-12)
    assert scores.e_d[1] == 0.0 and not scores.is_stable[1] and scores.is_metastable[1]
    assert scores[2].e_d == pytest.approx(0.0, abs=1e-12)
    assert scores[2].decomposition == {on_hull: pytest.approx(1.0)}
    assert scores[4].error is not None and scores[4].formula is None
    assert "non-finite energy" in (scores[5].error or "") and scores[5].formula == "FeO"
    assert np.isnan(scores.e_d[4]) and np.isnan(scores.e_d[5]) and not scores.ok[4:6].any()
    assert scores.ok.sum() == 6
    _check_against_pymatgen(mp2021, scores, formulas, energies)
    # warm (every host cached or memoised): the same columns
    again = mp2021.score(formulas, energies)
    assert np.array_equal(again.e_d, scores.e_d, equal_nan=True)
    assert again == scores


def test_single_entry_system_and_missing_element(mp2021: ReferenceHull) -> None:
    # A hull made of real bundled entries: Li's elemental reference alone, plus Na-Cl.
    li = int(mp2021._ref_rows["Li"])
    nacl = mp2021.rows_in(["Na", "Cl"])
    rows = [li, *nacl.tolist()]
    hull = ReferenceHull(
        [dict(mp2021._pairs[r]) for r in rows], mp2021.energies[rows], ids=[str(r) for r in rows]
    )
    formulas = ["Li", "Li", "LiCl", "NaCl", "Na3Cl", "KCl"]
    e_li = float(mp2021.energies[li])
    energies = [e_li - 0.05, e_li + 0.2, -3.0, -3.6, -2.0, -3.5]
    scores = hull.score(formulas, energies)
    assert scores[0].e_d == pytest.approx(-0.05) and scores[0].decomposition == {"Li": 1.0}
    assert scores[1].e_d == pytest.approx(0.2)
    # LiCl: no Li-Cl compound, so its hull is the two elemental references; KCl: no K at all
    assert scores[2].decomposition.keys() == {"Li", "Cl2"}
    assert not scores.ok[5] and "element K absent" in (scores[5].error or "")
    assert scores[5].formula == "KCl" and scores.ok[:5].all()
    assert np.isnan(scores.e_form[5]) and np.isnan(scores.e_d[5]) and scores[5].e_form is None
    _check_against_pymatgen(hull, scores, formulas, energies)
    single = PhaseDiagram([PDEntry(Composition("Li"), e_li)])
    assert scores.e_d[0] == pytest.approx(_pymatgen(single, "Li", energies[0])[1], abs=1e-12)


def test_grouping_by_bitmask_matches_element_sets(mp2021: ReferenceHull) -> None:
    formulas = ["Zr2O", "OZr", "Y2O3", "YZrO", "Fe2O3", "O2Fe", "W", "WZr", "ZrW2"]
    batch = mp2021._parse(formulas, np.zeros(len(formulas)))
    assert len(mp2021._symbols) > 64  # the second 64-bit word is exercised
    for c, formula in enumerate(formulas):
        expected = tuple(sorted(el.symbol for el in Composition(formula).elements))
        assert batch.systems[batch.system_of[c]] == expected
    assert len(batch.systems) == len({tuple(sorted(s)) for s in batch.systems}) == 6


def test_hull_scores_is_a_sequence(mp2021: ReferenceHull) -> None:
    scores = mp2021.score(["NaCl", "Fe2O3", "Li2O"], [-3.6, -6.0, -4.5])
    assert len(scores) == 3
    assert scores[-1] == scores[2] and scores[-1].formula == "Li2O"
    assert [s.formula for s in scores[1:]] == ["Fe2O3", "Li2O"]
    assert scores == list(scores) and isinstance(scores[0], HullScore)
    with pytest.raises(IndexError):
        scores[3]
    (a, b, c) = scores
    assert (a.formula, b.formula, c.formula) == ("NaCl", "Fe2O3", "Li2O")


def test_worker_pool_gives_identical_scores(
    mp2021: ReferenceHull, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    systems = sorted({s for s in mp2021.chemsys if len(s) in (2, 3, 4)})
    pick = rng.choice(len(systems), size=120, replace=False)
    formulas = ["".join(f"{el}{rng.integers(1, 5)}" for el in systems[i]) for i in pick]
    energies = rng.normal(-5.0, 1.0, len(formulas))
    mp2021.clear_cache()
    serial = mp2021.score(formulas, energies)
    monkeypatch.setattr(hull_pool, "MIN_PARALLEL_SYSTEMS", 1)
    monkeypatch.setattr("genflow.hull.reference.TASK_SYSTEMS", 16)
    mp2021.clear_cache()
    pooled = mp2021.score(formulas, energies, workers=2)
    assert mp2021.cached_systems > 16
    assert np.array_equal(pooled.e_d, serial.e_d, equal_nan=True)
    assert np.array_equal(pooled.vertex_rows, serial.vertex_rows)
    assert np.array_equal(pooled.amounts, serial.amounts)
    assert pooled == serial
