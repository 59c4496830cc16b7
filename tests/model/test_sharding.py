"""Data-parallel sharding: 8 fake CPU devices give the same step as 1 device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import genflow.model.sharding as shd


def test_reshard_is_noop_when_already_sharded():
    mesh = shd.make_mesh()
    x = jax.device_put(jnp.arange(8.0), shd.replicated(mesh))
    assert shd.reshard({"x": x}, {"x": shd.replicated(mesh)})["x"] is x
    moved = shd.reshard({"y": np.arange(4.0)}, {"y": shd.replicated(mesh)})["y"]
    assert isinstance(moved, jax.Array) and moved.sharding == shd.replicated(mesh)


def test_strategy_rules_and_errors():
    mesh = shd.make_mesh()
    tree = {"params": {"dense": np.zeros(3)}, "batch": np.zeros((2, 3))}
    sh = shd.shardings_for(tree, mesh, [("batch", "data"), (".*", "replicate")])
    assert sh["batch"] == shd.batch_sharding(mesh)
    assert sh["params"]["dense"] == shd.replicated(mesh)
    with pytest.raises(ValueError, match="unknown sharding rule 'shard_everything'"):
        shd.shardings_for(tree, mesh, [(".*", "shard_everything")])
    with pytest.raises(ValueError, match="no sharding rule matches parameter 'batch'"):
        shd.shardings_for(tree, mesh, [("params/.*", "replicate")])


@pytest.mark.slow
def test_eight_device_step_equals_one_device_step():
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
        JAX_PLATFORMS="cpu",
        OMP_NUM_THREADS="1",
    )
    script = Path(__file__).with_name("sharded_step_check.py")
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "SHARDED_OK" in proc.stdout
