"""StructRepDiff training through the shared script, and sampling through ``load_generator``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Composition
from typer.testing import CliRunner

from genflow.model import load_generator
from genflow.model.configs import get_config
from genflow.model.structrepdiff import ReconSettings, StructRepDiffGenerator
from genflow.model.train import main

QUICK = ReconSettings(trials=2, hops=1, iters=30)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("srd_tiny")
    summary = main("structrepdiff-perov5:tiny", workdir, steps=2)
    return {**summary, "workdir": workdir}


def test_config_registry():
    c = get_config("structrepdiff-mp20:runlocal")
    assert c.model_name == "structrepdiff" and c.data.source == "mp_20"
    assert c.diffusion.num_steps == 2000 and c.diffusion.schedule == "cosine"
    assert (c.recon.trials, c.recon.hops, c.recon.iters) == (6, 7, 300)
    assert get_config("structrepdiff_carbon24").data.source == "carbon_24"


@pytest.mark.slow  # compiles a train step and a sampler: minutes on a shared core
def test_train_resume_and_sample(tiny_run):
    workdir = tiny_run["workdir"]
    meta = json.loads((workdir / "meta.json").read_text())
    assert meta["model_name"] == "structrepdiff" and meta["data"]["rows_encoded"] == 32
    assert np.isfinite(tiny_run["loss"]) and tiny_run["step"] == 2
    assert main("structrepdiff-perov5:tiny", workdir, steps=3)["start_step"] == 2  # resumed

    gen = load_generator(workdir)
    assert isinstance(gen, StructRepDiffGenerator)
    structures = gen.sample(2, seed=1, num_steps=4, recon=QUICK)
    assert len(structures) == 2
    for i, s in enumerate(structures):
        assert 1 <= len(s) <= gen.max_atoms
        assert set(s.composition.chemical_system.split("-")) <= set(gen.spec.elements)
        assert s.properties["index"] == i and s.properties["seed"] == 1
        assert s.properties["checkpoint_hash"] == gen.checkpoint_hash
    # exact composition is imposed, whatever the (barely trained) network says
    cond = gen.sample(2, composition="SrTiO3", seed=0, num_steps=4, recon=QUICK)
    assert all(s.composition == Composition("SrTiO3") for s in cond)
    with pytest.raises(ValueError, match="not in this model"):
        gen.sample(1, composition="UO2", num_steps=4, recon=QUICK)


@pytest.mark.slow  # sampler + reconstruction compiles: ~1-3 min on a shared core
def test_bundled_checkpoint_samples():
    """The shipped structrepdiff-perov5 checkpoint, by name, with a short chain."""
    gen = load_generator("structrepdiff-perov5")
    assert isinstance(gen, StructRepDiffGenerator)
    a = gen.sample(2, seed=0, num_steps=50, recon=QUICK)
    b = gen.sample(2, seed=0, num_steps=50, recon=QUICK)
    assert [s.composition for s in a] == [s.composition for s in b]  # seeded
    assert all(1 <= len(s) <= 5 for s in a)
    assert a[0].properties["generator"] == "structrepdiff"


@pytest.mark.slow
def test_sample_command_with_bundled_name(tmp_path):
    from genflow.cli import app

    out = tmp_path / "s.json"
    res = CliRunner().invoke(
        app,
        [
            "sample",
            "--checkpoint",
            "structrepdiff-perov5",
            "--n",
            "1",
            "--steps",
            "50",
            "--composition",
            "SrTiO3",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["provenance"]["model_name"] == "structrepdiff"
    assert summary["formulas"] == ["SrTiO3"]
