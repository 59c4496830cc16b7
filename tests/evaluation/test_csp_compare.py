"""CSP best-of-k, head-to-head comparison numbers and plots, CDVAE structure validity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from genflow.evaluation.compare import ScoredSet, compare_sets
from genflow.evaluation.csp import csp_metrics
from genflow.evaluation.plots import e_d_histograms, per_composition_delta
from genflow.evaluation.sets import StructureSet, load_set
from genflow.hull.records import HullScore
from genflow.model.validity import cdvae_structure_validity


def _set(name, structures):
    n = len(structures)
    return StructureSet(name, tuple(map(str, range(n))), tuple(structures), (None,) * n,
                        (None,) * n)  # fmt: skip


def test_cdvae_structure_validity_flags_overlapping_atoms() -> None:
    ok = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    bad = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])  # 0.2 Å
    assert cdvae_structure_validity(ok)
    assert not cdvae_structure_validity(bad)


def test_csp_best_of_k_matches_perturbed_truths() -> None:
    truth = load_set("perov_5:test", limit=3)
    rng = np.random.default_rng(0)
    preds = []
    for s in truth.structures[:2]:  # the third truth gets no prediction at all
        p = s.copy()
        p = Structure(p.lattice, p.species, p.frac_coords + rng.normal(0, 0.01, (len(p), 3)))
        wrong = Structure(Lattice.cubic(9.0), s.species, rng.random((len(s), 3)))
        preds += [wrong, p]
    result = csp_metrics(_set("preds", preds), truth, progress=False)
    assert result["n_truth"] == 3 and result["n_matched"] == 2
    assert result["match_rate"] == pytest.approx(2 / 3)
    assert 0 < result["rmse"] < 0.1
    assert result["k"] == 2
    assert result["rows"][2]["best_rms"] is None


def test_compare_sets_tables_and_plots(tmp_path) -> None:
    a = ScoredSet("A", [HullScore("SrTiO3", -0.01, -3.5), HullScore("BaTiO3", 0.02, -3.4),
                        HullScore.failed("boom")])  # fmt: skip
    b = ScoredSet("B", [HullScore("SrTiO3", 0.10, -3.4), HullScore("BaTiO3", 0.01, -3.41),
                        HullScore("CaTiO3", 0.3, -3.0)])  # fmt: skip
    r = compare_sets(a, b, hull_name="mp2021")
    assert r["a"]["n_stable"] == 1 and r["a"]["n_metastable"] == 2 and r["a"]["n_failed"] == 1
    assert r["b"]["n_stable"] == 0 and r["b"]["n_metastable"] == 1
    assert r["n_matched"] == 2 and r["n_only_b"] == 1
    assert r["delta_e_form"] == pytest.approx(((-3.5 + 3.4) + (-3.4 + 3.41)) / 2)
    assert r["e_form_reduction_rate"] == pytest.approx(0.5)
    assert [row["formula"] for row in r["per_composition"]] == ["SrTiO3", "BaTiO3"]
    h = e_d_histograms({"A": a.e_d, "B": b.e_d}, tmp_path / "h.png", hull="mp2021")
    d = per_composition_delta(
        {x["formula"]: x["delta"] for x in r["per_composition"]}, tmp_path / "d.png"
    )
    assert h.stat().st_size > 1000 and d.stat().st_size > 1000
    assert not math.isnan(r["delta_e_form"])
