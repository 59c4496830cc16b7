"""Issue 24: is the wrong atom count in the representation or sampler, or in the network?

The sampler (``diffusion.sample_loop``: v-parameterisation, x̂ clipped by ``sampler.clip_x``,
γ = 0.1 ancestral steps), the null point −1 and the decoder's −0.5 threshold are driven here by
the *exact* denoiser of a small training set: x̂(z, λ) = Σ_k w_k x_k with w = softmax over the
Gaussian likelihoods N(z; α x_k, σ² I), the posterior mean a perfectly trained network learns.
Every sample must then be one of the training crystals' occupancy patterns, so its atom count
is right. It is (100 % at 8 and at 32 steps on 4 and 64 Perov-5 crystals): the representation
and sampler do not lose or add atoms, and an overfit network that misses counts is off its
loss optimum (``model/checkpoints/README.md`` gives both losses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genflow.model import diffusion
from genflow.model.configs import get_config
from genflow.model.unimat.denoiser_gap import exact_denoiser
from genflow.model.unimat.network import LatticeNorm
from genflow.model.unimat.representation import ElementTable, decode_many
from genflow.model.unimat.sampler import clip_x
from genflow.model.unimat.train import load_training_data, prepare_arrays


def _training_set(limit: int):
    config = get_config("perov5:tiny")
    config.data.limit = limit
    arrays, meta = load_training_data(config)
    return prepare_arrays(arrays, meta), meta


def _sample(arrays, *, steps: int, n: int = 32, param: str = "v"):
    grid = arrays["coords"].shape[1:]
    shape_like = {
        "coords": jax.ShapeDtypeStruct((n, *grid), jnp.float32),
        "lattice": jax.ShapeDtypeStruct((n, 6), jnp.float32),
    }
    run = jax.jit(
        lambda rng: diffusion.sample_loop(
            model_fn=exact_denoiser(arrays["coords"], arrays["lattice"], param),
            shape_like=shape_like,
            rng=rng,
            schedule=diffusion.get_schedule("cosine"),
            num_steps=steps,
            gamma=0.1,
            clip_x=clip_x,
            parameterization=param,
        )
    )
    return jax.device_get(run(jax.random.key(1)))


@pytest.mark.parametrize(("limit", "steps"), [(2, 8), (32, 32)])
def test_exact_denoiser_reproduces_training_occupancy(limit, steps):
    arrays, meta = _training_set(limit)
    x = _sample(arrays, steps=steps)
    occupied = x["coords"].mean(-1) >= -0.5
    truth = arrays["coords"].mean(-1) >= -0.5
    matches = (occupied[:, None] == truth[None]).all(axis=(2, 3, 4)).any(axis=1)
    assert matches.all(), f"{(~matches).sum()} samples match no training occupancy"
    # and through the decoder every sample is a 5-site Perov-5 cell
    lattice = LatticeNorm.from_dict(meta["lattice_norm"]).denormalize(x["lattice"])
    table = ElementTable.from_dict(meta["table"])
    structures, errors = decode_many(x["coords"], np.asarray(lattice), table)
    assert errors == [None] * len(structures)
    assert [len(s) for s in structures] == [5] * len(structures)
