"""E_d, decomposition and E_f of the batched hull agree with pymatgen's ``PhaseDiagram``."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from genflow.core.chem import CompositionError, parse_composition
from genflow.hull import ReferenceHull
from genflow.hull.engine import FORMATION_ENERGY_TOL, NUMERICAL_TOL, assign_hosts

SYSTEMS = [
    ("Fe",),
    ("Cl", "Na"),
    ("Fe", "Li", "O"),
    ("Ba", "O", "Ti"),
    ("Al", "Cu", "Zn"),
    ("Li", "Mn", "O", "P"),
    ("Br", "Cs", "I", "Pb"),
]


def test_tolerances_follow_pymatgen() -> None:
    assert PhaseDiagram.numerical_tol == NUMERICAL_TOL
    assert PhaseDiagram.formation_energy_tol == FORMATION_ENERGY_TOL


def _random_candidates(
    hull: ReferenceHull, rng: np.random.Generator, n_per_system: int
) -> tuple[list[str], list[float]]:
    """Random compositions (some on subsystems) at hull energy + U(-0.2, 0.3) eV/atom."""
    comps = []
    for system in SYSTEMS:
        for _ in range(n_per_system):
            amounts = rng.integers(0, 7, size=len(system))
            if amounts.sum() == 0:
                amounts[0] = 1
            comps.append("".join(f"{el}{a}" for el, a in zip(system, amounts, strict=True) if a))
    on_hull = hull.score(comps, np.zeros(len(comps)))
    e_hull = np.array([-s.e_d for s in on_hull])
    return comps, list(e_hull + rng.uniform(-0.2, 0.3, len(comps)))


def test_e_d_matches_phase_diagram(mp2021: ReferenceHull) -> None:
    rng = np.random.default_rng(7)
    comps, energies = _random_candidates(mp2021, rng, n_per_system=8)
    mp2021.clear_cache()
    scores = mp2021.score(comps, energies)
    diagrams: dict[tuple[str, ...], PhaseDiagram] = {}
    n_below = n_above = 0
    for comp_str, energy, score in zip(comps, energies, scores, strict=True):
        comp = Composition(comp_str)
        system = tuple(sorted(el.symbol for el in comp.elements))
        if system not in diagrams:
            diagrams[system] = mp2021.phase_diagram(system)
        pd_ = diagrams[system]
        entry = PDEntry(comp, energy * comp.num_atoms)
        decomp, e_d = pd_.get_decomp_and_e_above_hull(entry, allow_negative=True)
        assert score.error is None
        assert score.e_d == pytest.approx(e_d, abs=1e-6)
        assert score.e_form == pytest.approx(pd_.get_form_energy_per_atom(entry), abs=1e-6)
        expected = {e.composition.reduced_formula: amt for e, amt in decomp.items()}
        assert score.decomposition.keys() == expected.keys()
        for formula, amt in expected.items():
            assert score.decomposition[formula] == pytest.approx(amt, abs=1e-6)
        assert score.is_stable == (e_d < 0)
        assert score.is_metastable == (e_d < 0.025)
        n_below += e_d < 0
        n_above += e_d > 0
    # The sample really exercises both sides of the hull.
    assert n_below > 10
    assert n_above > 10


def test_candidate_at_hull_vertex_has_zero_e_d(mp2021: ReferenceHull) -> None:
    lifepo4 = mp2021.rows_in(["Li", "Fe", "P", "O"], hull_only=True)
    row = next(r for r in lifepo4 if mp2021.formula(int(r)) == "LiFePO4")
    energy = float(mp2021.energies[row])
    [score] = mp2021.score(["Li4Fe4P4O16"], [energy])
    assert score.e_d == pytest.approx(0.0, abs=1e-9)
    assert score.decomposition == {"LiFePO4": pytest.approx(1.0)}
    [below] = mp2021.score(["LiFePO4"], [energy - 0.01])
    assert below.e_d == pytest.approx(-0.01, abs=1e-9)
    assert below.is_stable


def test_subsystem_scored_in_larger_hull_equals_own_hull(mp2021: ReferenceHull) -> None:
    comps = ["Li2O", "LiFeO2", "Fe3O4", "Li5FeO4"]
    energies = [-4.5, -5.8, -6.9, -5.1]
    together = mp2021.score(comps, energies)  # Li-O and Fe-O ride on the Li-Fe-O hull
    alone = []
    for c, e in zip(comps, energies, strict=True):
        mp2021.clear_cache()  # each on its own system's hull (no cached superset)
        alone.append(mp2021.score([c], [e])[0])
    for a, b in zip(together, alone, strict=True):
        assert a.e_d == pytest.approx(b.e_d, abs=1e-12)
        assert a.decomposition.keys() == b.decomposition.keys()


def test_custom_hull_from_pdentries_matches_pymatgen() -> None:
    entries = [
        PDEntry("Li", -1.9),
        PDEntry("O2", -9.9),
        PDEntry("Li2O", -14.3),
        PDEntry("Li2O2", -19.0),
        PDEntry("LiO2", -13.0),
    ]
    hull = ReferenceHull(
        [e.composition for e in entries], [e.energy_per_atom for e in entries], name="toy"
    )
    pd_ = PhaseDiagram(entries)
    for comp, e in [("Li3O", -4.0), ("LiO", -4.6), ("LiO3", -4.0), ("Li2O", -4.8)]:
        entry = PDEntry(comp, e * Composition(comp).num_atoms)
        [score] = hull.score([comp], [e])
        assert score.e_d == pytest.approx(
            pd_.get_decomp_and_e_above_hull(entry, allow_negative=True)[1], abs=1e-9
        )


def test_assign_hosts_uses_smallest_superset() -> None:
    hosts = assign_hosts([("Li", "O"), ("Fe", "Li", "O"), ("Na",), ("Fe", "Li", "O", "P"), ("O",)])
    assert hosts == {
        ("Fe", "Li", "O", "P"): [("Fe", "Li", "O", "P"), ("Fe", "Li", "O"), ("Li", "O"), ("O",)],
        ("Na",): [("Na",)],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fe2O3", (("Fe", 2.0), ("O", 3.0))),
        ("Ac2Ag1Ir1", (("Ac", 2.0), ("Ag", 1.0), ("Ir", 1.0))),
        ("Li(FePO4)2", (("Fe", 2.0), ("Li", 1.0), ("O", 8.0), ("P", 2.0))),
        ("Na0.5Cl0.5", (("Cl", 0.5), ("Na", 0.5))),
    ],
)
def test_parse_composition(text: str, expected: tuple) -> None:
    assert parse_composition(text) == expected
    assert parse_composition(Composition(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Xx2O", "unknown element Xx"),
        ("Li(Fe", "malformed"),
        ("", "malformed"),
        ("Abc", "unknown element Abc"),
    ],
)
def test_parse_composition_errors(text: str, message: str) -> None:
    with pytest.raises(CompositionError, match=message):
        parse_composition(text)


def test_failing_hull_fails_only_its_rows(monkeypatch, mp2021: ReferenceHull) -> None:
    import genflow.hull.reference as reference

    real = reference.build_chemsys_hulls

    def flaky(specs, **kwargs):  # systems are built in batches; Cl-Na fails inside one
        built = real(specs, **kwargs)
        error = RuntimeError("QH6154 qhull precision error")
        pairs = zip(specs, built, strict=True)
        return [error if spec[0] == ("Cl", "Na") else h for spec, h in pairs]

    monkeypatch.setattr(reference, "build_chemsys_hulls", flaky)
    mp2021.clear_cache()
    bad, good, also_bad = mp2021.score(["NaCl", "Fe2O3", "Na3Cl"], [-3.6, -6.0, -2.0])
    assert mp2021.cached_systems == 1  # Fe-O only: a failed hull is not cached
    mp2021.clear_cache()
    assert "could not be evaluated" in bad.error and "qhull" in bad.error
    assert "qhull" in also_bad.error and also_bad.formula == "Na3Cl"
    assert good.ok
