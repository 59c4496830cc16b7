"""Self-conditioning (Chen, Zhang & Hinton 2022): the training pass sees the net's own x̂ with
gradients stopped, the sampler carries each step's x̂ into the next, and a UniMat checkpoint
trained with ``selfcond`` samples through the normal generator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genflow.model import diffusion as D
from genflow.model import load_generator
from genflow.model.configs import get_config
from genflow.model.train import main
from genflow.model.unimat.denoiser_gap import (
    noise_level_gap,
    occupancy_per_step,
    training_arrays,
)
from genflow.model.unimat.network import empty_condition
from genflow.model.unimat.sampler import make_sampler


def _state(batch=3):
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "coords": jax.random.normal(k1, (batch, 2, 3)),
        "lattice": jax.random.normal(k2, (batch, 6)),
    }


def _linear(w):
    """out = w z + 2 x_prev: a toy denoiser whose output shows which x_prev it was given."""
    return lambda z, logsnr, x_prev: jax.tree.map(lambda a, b: w * a + 2.0 * b, z, x_prev)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_training_pass_uses_the_first_pass_estimate_with_stopped_gradient(p):
    z, lam = _state(), jnp.array([-1.0, 0.0, 2.0])
    fn = D.self_conditioned(_linear(0.5), rng=jax.random.key(1), parameterization="v", p=p)
    out = fn(z, lam)
    alpha, sigma = D.alpha_sigma(lam)
    for k in z:
        first = 0.5 * z[k]  # the pass with x_prev = 0
        x_hat = D._bcast(alpha, z[k]) * z[k] - D._bcast(sigma, z[k]) * first  # v-param x̂
        np.testing.assert_allclose(out[k], first + 2.0 * p * x_hat, rtol=1e-5, atol=1e-6)

    # d/dw of Σ out: only the second pass's w z term; x_prev is a constant to the optimiser.
    def total(w):
        f = D.self_conditioned(_linear(w), rng=jax.random.key(1), parameterization="v", p=p)
        return sum(jnp.sum(v) for v in jax.tree.leaves(f(z, lam)))

    expected = sum(float(jnp.sum(v)) for v in jax.tree.leaves(z))
    assert float(jax.grad(total)(0.5)) == pytest.approx(expected, rel=1e-5)


def test_sampler_feeds_each_step_the_previous_estimate():
    x0 = _state(2)

    def model_fn(z, logsnr, x_prev):  # the point-mass oracle, pulled by the previous estimate
        a, s = D.alpha_sigma(logsnr)
        eps = jax.tree.map(lambda zz, xx: (zz - D._bcast(a, zz) * xx) / D._bcast(s, zz), z, x0)
        return jax.tree.map(lambda e, xp: e + 0.1 * xp, eps, x_prev)

    kw = dict(rng=jax.random.key(5), schedule=D.get_schedule("cosine"), num_steps=6, gamma=0.1)
    compiled = jax.jit(
        lambda: D.sample_loop(model_fn=model_fn, shape_like=x0, self_condition=True, **kw)
    )()
    init_rng, loop_rng = jax.random.split(kw["rng"])
    z = D._normal_like(init_rng, x0)
    x_hat = jax.tree.map(jnp.zeros_like, z)
    for i in range(6):
        z, x_hat = D.sample_step(
            i=i, z=z, model_fn=model_fn, rng=loop_rng, schedule=kw["schedule"],
            num_steps=6, gamma=0.1, x_prev=x_hat,
        )  # fmt: skip
    fresh = D.sample_loop(
        model_fn=lambda z, lam: model_fn(z, lam, jax.tree.map(jnp.zeros_like, z)),
        shape_like=x0,
        **kw,
    )
    for k in x0:
        np.testing.assert_allclose(compiled[k], x_hat[k], atol=1e-5)
        assert not np.allclose(compiled[k], fresh[k], atol=1e-3)  # x_prev was really used


def test_selfcond_checkpoint_trains_and_samples(tmp_path):
    config = get_config("perov5:tiny,selfcond")
    assert config.model.self_condition is True
    config.data.limit = 4
    config.train.ckpt_every = 1000
    main(config, tmp_path / "run", steps=6)
    gen = load_generator(tmp_path / "run")
    assert gen.model.self_condition
    # the input convolution sees 9 more channels: x̂'s coordinates (3) and lattice (6)
    kernel = gen.params["params"]["Conv_0"]["kernel"]
    assert kernel.shape[3] == 3 + 6 + 1 + 1 + 9, kernel.shape

    cond = empty_condition(2, gen.grid, len(gen.aux_names))
    z = {"coords": jnp.zeros((2, *gen.grid, 3)), "lattice": jnp.zeros((2, 6))}
    lam = jnp.zeros((2,))
    prev = {"coords": jnp.ones((2, *gen.grid, 3)), "lattice": jnp.ones((2, 6))}
    with_prev = gen.model.apply(gen.params, z, lam, cond, prev)
    without = gen.model.apply(gen.params, z, lam, cond)
    assert not np.allclose(with_prev["coords"], without["coords"])

    sched = D.schedule_from_config(gen.config.diffusion)
    kw = dict(schedule=sched, num_steps=4, gamma=0.1, parameterization="v")
    compiled = make_sampler(gen.model, **kw)(gen.params, cond, jax.random.key(0))
    stepwise = make_sampler(gen.model, per_step=True, **kw)(gen.params, cond, jax.random.key(0))
    for k in compiled:
        np.testing.assert_allclose(compiled[k], stepwise[k], atol=1e-5)
    rows = gen.sample_rows(3, num_steps=4, seed=0, batch_size=3)
    assert len(rows) == 3

    # the denoiser-gap diagnostic runs the net the way it was trained and sampled
    train = training_arrays(gen, limit=4)
    (gap,) = noise_level_gap(gen, train, rows=4, logsnrs=(8.0,), repeats=1)
    assert gap.data_atoms == 5.0 and gap.exact_atoms == 5.0  # every Perov-5 crystal has 5
    assert np.isfinite([gap.net_occupied, gap.net_null, gap.net_atoms]).all()
    steps = occupancy_per_step(gen, train, n=2, num_steps=3)
    assert [s.step for s in steps] == [0, 1, 2]
    assert all(np.isfinite(s.net_atoms) for s in steps)
