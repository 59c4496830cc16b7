"""``genflow eval proxy --energies mlip``: CHGNet energies for the energy Wasserstein and S.U.N.

Real data (bundled Perov-5 and MP-20 rows), the real CHGNet (weights ship in its wheel), the
bundled ``mp2021`` hull; the E_d behind S.U.N. is re-derived here from the cached energies
and a direct ``ReferenceHull.score`` call.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

N = 8


def _proxy(runner, *args: str) -> dict:
    from genflow.cli import app

    res = runner.invoke(app, ["eval", "proxy", *args, "--processes", "1", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.slow
def test_eval_proxy_with_chgnet_energies(tmp_path, monkeypatch, require_module) -> None:
    require_module("matminer")
    require_module("chgnet")
    monkeypatch.setenv("GENFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    runner = CliRunner(env={"COLUMNS": "200"})
    common = ["--limit", str(N), "--energies", "mlip:CHGNet"]

    # a set against itself: every Wasserstein distance is zero, the energy one included
    m = _proxy(runner, "perov_5:val", "--reference", "perov_5:val", "--reference-limit", str(N),
               *common)  # fmt: skip
    assert m["n_energies"] == [N, N] and m["wdist_energy"] == 0.0
    assert m["wdist_density"] == 0.0 and m["cov_recall"] == 1.0
    assert "MLIP CHGNet" in m["wdist_energy_note"]
    assert "learned property model" in m["wdist_energy_note"]
    assert m["novelty"] == 0.0 and m["n_sun"] == 0  # nothing novel: nothing S.U.N.
    assert m["sun_hull"] == "mp2021"

    # MP-20 rows against Perov-5 rows: all novel; S.U.N. = novel rows with E_d ≤ 0 on mp2021
    m = _proxy(runner, "mp_20:test", "--reference", "perov_5:val", "--reference-limit", str(N),
               *common)  # fmt: skip
    assert m["n_novel"] == m["n_unique"] == N
    assert m["wdist_energy"] > 0.05  # MP-20 rows lie far below Perov-5's (eV/atom)
    cached = sorted((tmp_path / "eval_cache" / "energies-v1" / "CHGNet-0").rglob("*.json"))
    assert len(cached) == 2 * N  # one per distinct structure, reused by the second run
    from genflow.evaluation.energies import mlip_energies
    from genflow.evaluation.sets import load_set
    from genflow.hull import load_hull

    mp = load_set("mp_20:test", limit=N)
    energies = mlip_energies(mp.structures, cache_dir=tmp_path / "eval_cache", progress=False)
    assert len(cached) == 2 * N and None not in energies  # read back from the cache
    scores = load_hull("mp2021").score([s.composition for s in mp.structures], list(energies))
    stable = sum(sc.e_d is not None and sc.e_d <= 0.0 for sc in scores)
    metastable = sum(sc.e_d is not None and sc.e_d <= 0.1 for sc in scores)
    assert metastable >= N // 2  # MP-20 materials: CHGNet puts most of them near MP's hull
    assert m["n_stable"] == m["n_sun"] == stable and m["sun_rate"] == pytest.approx(stable / N)
    assert m["n_msun"] == metastable and m["msun_rate"] == pytest.approx(metastable / N)
    assert m["sun_reference"] == {"name": "perov_5:val", "n": N}
    assert "mp2021" in m["sun_note"] and "CHGNet" in m["sun_note"]

    # the energies-only single point is the gate's batched CHGNet at zero steps; a short relax
    # (its own cache folder) can only go down in energy
    from genflow.workflows.gate.prerelax import prerelax_structures

    few = list(mp.structures[:3])
    gate = [r.energy_per_atom for r in prerelax_structures(few, model="CHGNet", steps=0)]
    assert list(energies[:3]) == pytest.approx(gate, abs=2e-4)
    relaxed = mlip_energies(few, steps=5, cache_dir=tmp_path / "eval_cache", progress=False)
    assert relaxed.steps == 5 and all(r <= e + 1e-3 for r, e in zip(relaxed, gate, strict=True))
    assert len(list((tmp_path / "eval_cache" / "energies-v1" / "CHGNet-5").rglob("*.json"))) == 3


def test_eval_proxy_energy_options_are_checked(tmp_path) -> None:
    from genflow.cli import app
    from genflow.evaluation.energies import parse_energy_source

    assert parse_energy_source("mlip:7net-l3i5") == ("mlip", "7net-l3i5")
    assert parse_energy_source("file") == ("file", None)
    with pytest.raises(ValueError, match="unknown MLIP"):
        parse_energy_source("mlip:NoSuchModel")
    runner = CliRunner(env={"COLUMNS": "200"})
    args = ["eval", "proxy", "perov_5:val", "--reference", "perov_5:val", "--limit", "2",
            "--reference-limit", "2"]  # fmt: skip
    res = runner.invoke(app, [*args, "--energies", "dft"])
    assert res.exit_code == 2 and "want none, file, mlip" in res.output
    res = runner.invoke(app, [*args, "--energies", "file"])
    assert res.exit_code == 2 and "carries no energies" in res.output
