"""The fast paths of hull scoring give pymatgen's answers.

- enumerated lower facets (small binaries/ternaries, built many at a time) equal qhull's on
  real systems, and degenerate (coplanar) hulls fall back to qhull;
- a subsystem scored on a cached superset hull in a later call equals its own hull;
- reduced formulas and formula parsing without pymatgen objects equal pymatgen's.
"""

from __future__ import annotations

import warnings
from ast import literal_eval
from math import comb

import numpy as np
import pandas as pd
import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from genflow.core.chem import parse_composition, reduced_formula
from genflow.hull import ReferenceHull
from genflow.hull.engine import _ENUM_BUDGET, _enumerate, _qhull_lower_facets


def _coords(hull: ReferenceHull, system: tuple[str, ...]) -> np.ndarray:
    rows = hull.rows_in(system, hull_only=True)
    return np.concatenate([hull.fractions(rows, system)[:, 1:], hull.energies[rows, None]], axis=1)


def test_enumerated_facets_equal_qhull_on_mp20_systems(
    mp20: pd.DataFrame, mp2021: ReferenceHull
) -> None:
    systems = sorted({tuple(sorted(literal_eval(s))) for s in mp20["elements"]})
    rng = np.random.default_rng(0)
    checked = degenerate = 0
    for i in rng.permutation(len(systems))[:600]:
        system = systems[i]
        if len(system) not in (2, 3):
            continue
        q = _coords(mp2021, system)
        if comb(len(q), len(system)) * len(q) > _ENUM_BUDGET:
            continue
        [found] = _enumerate(q[None], len(system))
        if found is None:
            # Not a tiling: coplanar points. Derived MP hull points (genflow.hull.derived) all
            # lie on MP's hull, so several on one MP facet are coplanar; qhull takes these.
            degenerate += 1
            continue
        expected = {tuple(sorted(f)) for f in _qhull_lower_facets(q).tolist()}
        assert {tuple(sorted(f)) for f in found.tolist()} == expected, system
        checked += 1
    assert checked > 300 and degenerate < 0.05 * checked


def _pymatgen_e_d(diagram: PhaseDiagram, comp: str, energy: float) -> float:
    entry = PDEntry(Composition(comp), energy * Composition(comp).num_atoms)
    return diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1]


def test_coplanar_points_fall_back_to_qhull() -> None:
    # Three binaries and the ternary centre all at -1 eV/atom: four coplanar lower points.
    formulas = ["Li", "Na", "K", "LiNa", "NaK", "LiK", "LiNaK"]
    energies = [0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0]
    hull = ReferenceHull(formulas, energies, name="coplanar")
    q = _coords(hull, ("K", "Li", "Na"))
    assert _enumerate(q[None], 3) == [None]  # overlapping facets: not a tiling
    diagram = PhaseDiagram(
        [PDEntry(f, e * Composition(f).num_atoms) for f, e in zip(formulas, energies, strict=True)]
    )
    cands = ["Li2NaK", "LiNa2K2", "Li3NaK", "LiNaK", "Li4NaK2"]
    for comp, score in zip(cands, hull.score(cands, [-0.9] * len(cands)), strict=True):
        assert score.e_d == pytest.approx(_pymatgen_e_d(diagram, comp, -0.9), abs=1e-9)


def test_cached_superset_scores_subsystem_exactly(mp2021: ReferenceHull) -> None:
    mp2021.clear_cache()
    [big] = mp2021.score(["LiFeO2"], [-5.8])
    assert big.ok and mp2021.cached_systems == 1
    comps, energies = ["Li2O", "Fe2O3", "Li", "Fe3O4"], [-4.5, -6.7, -1.8, -6.9]
    scores = mp2021.score(comps, energies)
    assert mp2021.cached_systems == 1  # all scored on the cached Fe-Li-O hull, none built
    for comp, energy, score in zip(comps, energies, scores, strict=True):
        own = mp2021.phase_diagram({el.symbol for el in Composition(comp).elements})
        assert score.e_d == pytest.approx(_pymatgen_e_d(own, comp, energy), abs=1e-9)
    mp2021.clear_cache()


def test_reduced_formula_and_parsing_match_pymatgen(
    mp20: pd.DataFrame, mp2021: ReferenceHull
) -> None:
    rng = np.random.default_rng(1)
    symbols = sorted(mp2021.elements)
    comps = list(mp20["pretty_formula"])  # many with parentheses: Eu(SiAu)2, ...
    comps += [Composition(c).formula for c in comps[:500]]  # "Fe2 O3" style
    for _ in range(3000):
        k = int(rng.integers(1, 6))
        els = rng.choice(symbols, size=k, replace=False)
        amounts = rng.integers(1, 13, size=k) * int(rng.choice([1, 2, 4]))
        comps.append("".join(f"{e}{a}" for e, a in zip(els, amounts, strict=True)))
    comps += ["LiO", "Li2O2", "O", "H2", "NaO2", "CsO", "XeF4", "HeNe", "ArKrXe2", "Li(FePO4)2"]
    comps += ["Ca3(PO4)2", "Mg(OH)2", "(NH4)2SO4", "Ba(Ti(O3))2", "Na0.5Cl0.5", "Fe2O3.5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # noble gases: no electronegativity
        for c in comps:
            pairs = parse_composition(c)
            ref = Composition(c)
            assert dict(pairs) == pytest.approx(
                {el.symbol: float(a) for el, a in ref.items()}, abs=1e-12
            ), c
            assert reduced_formula(pairs) == ref.reduced_formula, c


def test_lru_eviction_forgets_superset(monkeypatch, mp2021: ReferenceHull) -> None:
    monkeypatch.setattr(mp2021._hulls, "size", 2)
    mp2021.clear_cache()
    for comp in ["LiFeO2", "NaCl", "BaTiO3"]:  # Fe-Li-O is evicted by the third
        mp2021.score([comp], [-5.0])
    assert mp2021.cached_systems == 2
    [li2o] = mp2021.score(["Li2O"], [-4.5])  # no cached superset left: its own hull
    own = mp2021.phase_diagram(["Li", "O"])
    assert li2o.e_d == pytest.approx(_pymatgen_e_d(own, "Li2O", -4.5), abs=1e-9)
    assert mp2021.cached_systems == 2
    assert mp2021._hulls.is_consistent()
    mp2021.clear_cache()
