"""Run in a subprocess with 8 host devices: the sharded train step equals the 1-device step."""

import os

assert "--xla_force_host_platform_device_count=8" in os.environ.get("XLA_FLAGS", "")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import genflow.model.sharding as shd  # noqa: E402
from genflow.model.configs import get_config  # noqa: E402
from genflow.model.train import batch_indices, shard_train  # noqa: E402
from genflow.model.unimat.network import LatticeNorm  # noqa: E402
from genflow.model.unimat.train import load_training_data, make_train_step  # noqa: E402

assert jax.device_count() == 8, jax.devices()
config = get_config("perov5:tiny")
arrays, meta = load_training_data(config)
arrays["lattice"] = np.asarray(
    LatticeNorm.from_dict(meta["lattice_norm"]).normalize(arrays["lattice"])
)
_, init_fn, train_step = make_train_step(config, meta)
results = {}
for name, devices in {"one": jax.devices()[:1], "eight": jax.devices()}.items():
    mesh = shd.make_mesh(devices)
    state, step_fn = shard_train(init_fn, train_step, mesh, seed=0, keys=list(arrays))
    losses = []
    for step in range(3):
        idx = batch_indices(0, step, len(arrays["coords"]), config.train.batch_size)
        batch = shd.shard_batch({k: v[idx] for k, v in arrays.items()}, mesh)
        if name == "eight":
            assert len(batch["coords"].sharding.device_set) == 8
        state, m = step_fn(state, batch)
        losses.append(float(m["loss"]))
    if name == "eight":
        leaf = jax.tree.leaves(state.params)[0]
        assert len(leaf.sharding.device_set) == 8  # replicated over all devices
    results[name] = (losses, jax.tree.map(np.asarray, state.params))

np.testing.assert_allclose(results["one"][0], results["eight"][0], rtol=1e-5, atol=1e-6)
for a, b in zip(
    jax.tree.leaves(results["one"][1]), jax.tree.leaves(results["eight"][1]), strict=True
):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
print("SHARDED_OK", results["one"][0], results["eight"][0])
