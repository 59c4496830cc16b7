"""Proxy metrics with known answers on bundled Perov-5 rows, and the random-search baseline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from genflow.evaluation.sets import StructureSet, load_set


def _with_bad_rows(s: StructureSet) -> StructureSet:
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    empty = Structure(Lattice.cubic(4.0), [], [])  # a sample that decoded to no atoms
    return StructureSet(s.name, (*s.keys, "overlap", "unreadable", "empty"),
                        (*s.structures, overlap, None, empty), (*s.errors, None, "x: bad", None),
                        (*s.energies, None, None, None))  # fmt: skip


@pytest.mark.slow
def test_proxy_reference_against_itself_and_bad_rows(tmp_path, require_module) -> None:
    require_module("matminer")
    from genflow.evaluation.proxy import proxy_metrics

    ref = load_set("perov_5:val", limit=6)
    m = proxy_metrics(ref, ref, processes=1, cache_dir=tmp_path, progress=False)
    assert m["dataset"] == "perovskite" and "Table" in m["compare_with"]
    assert m["valid"] == 1.0 and m["cov_recall"] == 1.0 and m["cov_precision"] == 1.0
    assert m["amsd_recall"] == 0.0 and m["amcd_precision"] == 0.0
    assert m["uniqueness"] == 1.0 and m["novelty"] == 0.0  # every sample is in the reference
    assert m["wdist_density"] == pytest.approx(0.0, abs=1e-12)
    # overlapping atoms, an unreadable row and an empty cell: invalid, COV-P divides by all 9
    samples = _with_bad_rows(ref)
    other = load_set("perov_5:test", limit=4)
    m2 = proxy_metrics(samples, other, processes=1, cache_dir=tmp_path, progress=False,
                       e_d=[-0.1] * 6 + [None, None, None])  # fmt: skip
    assert m2["n_samples"] == 9 and m2["struct_valid"] == pytest.approx(6 / 9)
    assert m2["valid"] == pytest.approx(6 / 9)
    assert m2["cov_precision"] <= 6 / 9
    assert m2["novelty"] == 1.0 and m2["sun_rate"] == pytest.approx(6 / 9)
    assert m2["msun_rate"] == pytest.approx(6 / 9) and m2["sun_reference"]["n"] == 4
    assert m2["amsd_recall"] > 0  # different structures, nonzero distances
    assert len(list(tmp_path.rglob("*.npz"))) == 6 + 1 + 4  # cached per distinct structure


@pytest.mark.slow
def test_random_search_composition_volume_and_no_overlap(require_module) -> None:
    require_module("pyxtal")
    from genflow.model.random_search import random_structures, target_volume

    structures = random_structures("SrTiO3", 2, seed=3)
    assert len(structures) == 2
    for s in structures:
        assert s.composition.reduced_formula == "SrTiO3"
        lo, hi = target_volume(s.composition, 0.4), target_volume(s.composition, 1.2)
        assert lo <= s.volume <= hi
        assert s.properties["min_overlap_ratio"] >= 1.0 - 1e-3
        _assert_no_pair_inside_spheres(s, sphere_factor=0.5)
    again = random_structures("SrTiO3", 2, seed=3)
    assert np.allclose(again[0].frac_coords, structures[0].frac_coords)


def _assert_no_pair_inside_spheres(s: Structure, *, sphere_factor: float) -> None:
    """Measured here, not read from the generator: every pair (periodic images and a site's
    own images included) at least f·(r_i + r_j) apart, r the atomic radius."""
    from pymatgen.core import Element

    r = np.array([float(Element(site.specie.symbol).atomic_radius) for site in s])
    sigma = sphere_factor * (r[:, None] + r[None, :])
    n_pairs = 0
    for i, neighbours in enumerate(s.get_all_neighbors(float(sigma.max()) + 0.5)):
        for nb in neighbours:
            n_pairs += 1
            assert nb.nn_distance >= sigma[i, nb.index] * (1 - 1e-3), (i, nb.index, nb.nn_distance)
    assert n_pairs > 0  # the check looked at real pairs


@pytest.mark.slow
def test_eval_csp_cli_json(tmp_path) -> None:
    from genflow.core.structure_io import write_structures

    truth = load_set("perov_5:test", limit=2)
    write_structures(list(truth.structures), tmp_path / "preds.extxyz")
    out = subprocess.run(
        [sys.executable, "-m", "genflow.cli", "eval", "csp", str(tmp_path / "preds.extxyz"),
         "--truth", "perov_5:test", "--limit", "2", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["match_rate"] == 1.0 and result["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_sample_generator_random_is_the_baseline_command(tmp_path, require_module):
    """``genflow sample --generator random`` and ``genflow baseline random``: one generator."""
    require_module("pyxtal")
    import json

    from typer.testing import CliRunner

    from genflow.cli import app
    from genflow.model.random_search import random_structures

    runner = CliRunner(env={"COLUMNS": "200"})  # error boxes unwrapped
    args = ["--composition", "NaCl", "--n", "2", "--seed", "4"]
    res = runner.invoke(
        app, ["sample", "--generator", "random", *args, "--out", str(tmp_path / "a.json"), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)  # stage lines ("importing the generator…") go to stderr
    assert summary["n"] == 2 and summary["formulas"] == ["NaCl", "NaCl"]
    assert summary["provenance"]["model_name"] == "random-search"
    assert summary["provenance"]["parameters"]["volume_scale"] == [0.4, 1.2]
    res = runner.invoke(app, ["baseline", "random", *args, "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    direct = [s.as_dict() for s in random_structures("NaCl", 2, seed=4)]
    for x, y, z in zip(a, b, direct, strict=True):
        assert x["lattice"]["matrix"] == y["lattice"]["matrix"] == z["lattice"]["matrix"]
    bad = runner.invoke(app, ["sample", "--generator", "random", "--n", "1"])
    assert bad.exit_code == 2 and "needs --composition" in bad.output
    bad = runner.invoke(
        app, ["sample", "--generator", "unimat", "--checkpoint", "structrepdiff-perov5"]
    )
    assert bad.exit_code == 2 and "is a structrepdiff checkpoint, not unimat" in bad.output
