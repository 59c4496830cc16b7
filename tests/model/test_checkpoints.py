"""Bundled checkpoints by name: every bundled one loads and samples; unknown names fail clearly."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from genflow.cli import app
from genflow.model import registry
from genflow.model.kinds import load_generator
from genflow.model.registry import (
    BUNDLED_CHECKPOINT,
    CHECKPOINTS,
    bundled_names,
    checkpoint_model_name,
    resolve_checkpoint,
)


def test_default_is_perov5_and_it_is_bundled():
    assert "perov5" in bundled_names()
    assert resolve_checkpoint(None) == resolve_checkpoint("perov5") == BUNDLED_CHECKPOINT
    assert load_generator() is load_generator("perov5")  # same cached generator
    assert load_generator(str(BUNDLED_CHECKPOINT)) is load_generator("perov5")


# UniMat checkpoints (StructRepDiff's is sampled in test_structrepdiff_train.py).
@pytest.mark.parametrize(
    "name", [n for n in bundled_names() if checkpoint_model_name(n) == "unimat"]
)
def test_bundled_checkpoint_loads_by_name_and_samples(name):
    gen = load_generator(name)
    assert gen.parameterization in ("eps", "v")
    structures = gen.sample(2, num_steps=4, seed=0)  # unconditional, few steps
    assert len(structures) == 2
    for s in structures:
        assert s.properties["checkpoint_hash"] == gen.checkpoint_hash
        assert {e.symbol for e in s.composition.elements} <= set(gen.table.symbols)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown checkpoint 'perov6'.*perov5.*carbon24.*mp20"):
        load_generator("perov6")


def test_registered_but_unbundled_name_says_how_to_train(monkeypatch):
    monkeypatch.setitem(CHECKPOINTS, "toy", "toy_not_shipped")
    with pytest.raises(FileNotFoundError, match="'toy' is registered but not bundled"):
        registry.resolve_checkpoint("toy")


def test_cli_sample_unknown_checkpoint_is_a_clear_error():
    r = CliRunner().invoke(app, ["sample", "--n", "1", "--checkpoint", "perov6", "--steps", "2"])
    assert r.exit_code != 0
    assert "unknown checkpoint" in r.output and "perov5" in r.output
