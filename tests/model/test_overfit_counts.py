"""Overfit check of issue 24: a model trained on a tiny set reproduces that set's atom counts.

Perov-5 (every crystal has 5 sites) and MP-20 (32 crystals of mixed sizes), each trained on CPU
for a short fixed budget and sampled with no conditioning. Unconditional sampling draws each
sample's composition from the training compositions (``meta["compositions"]``) and samples
with exact-composition conditioning, so ≥ 95 % of samples have a site count of the training
set. The model-only mode (``composition_prior=False``) reproduced 5 sites in only 6-20 % of
samples of the same Perov-5 run (issue 24's closing note), which the test prints.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genflow.model.configs import get_config
from genflow.model.unimat.generator import Generator
from genflow.model.unimat.train import load_training_data, make_train_step, prepare_arrays


def _train(config_name: str, limit: int, steps: int):
    config = get_config(config_name)
    config.data.limit = limit
    config.model.dropout = 0.0
    config.optim.lr = 3e-3
    config.optim.grad_clip = 1.0
    arrays, meta = load_training_data(config)
    arrays = prepare_arrays(arrays, meta)  # the lattice standardised as training does
    _, init_fn, train_step = make_train_step(config, meta)
    state = jax.jit(init_fn)(jax.random.key(0))
    step = jax.jit(train_step, donate_argnums=0)
    n = len(arrays["coords"])
    for i in range(steps):
        idx = np.random.default_rng([0, i]).choice(n, size=8, replace=n < 8)
        state, _ = step(state, {k: jnp.asarray(v[idx]) for k, v in arrays.items()})
    gen = Generator(state.ema_params, meta, path=Path("overfit"), checkpoint_hash="-", step=steps)
    counts = (arrays["coords"].mean(-1) >= -0.5).sum(axis=(1, 2, 3))
    return gen, counts


def _share_in(gen: Generator, counts: np.ndarray, **kw) -> tuple[float, np.ndarray]:
    rows = gen.sample_rows(32, num_steps=32, seed=1, batch_size=32, **kw)
    got = np.array([len(r.structure) if r.structure is not None else -1 for r in rows])
    return float(np.isin(got, counts).mean()), got


@pytest.mark.slow
def test_perov5_overfit_reproduces_five_sites():
    gen, counts = _train("perov5:tiny", limit=32, steps=300)  # 64 crystals
    assert set(counts.tolist()) == {5}
    assert sum(gen.composition_prior.values()) == len(counts)
    share, got = _share_in(gen, counts)
    model_only, got_model = _share_in(gen, counts, composition_prior=False)
    print(f"5-site share: {share:.2f} (model only: {model_only:.2f}, {np.bincount(got_model)})")
    assert share >= 0.95, got


@pytest.mark.slow
def test_mp20_overfit_reproduces_mixed_site_counts():
    gen, counts = _train("mp20:tiny", limit=8, steps=50)  # 4 files x 8 rows, mixed sizes
    assert len(set(counts.tolist())) > 3
    share, got = _share_in(gen, counts)
    assert share >= 0.95, (got, counts)
    assert (got > 0).all()  # no empty samples
