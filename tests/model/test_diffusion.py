"""Diffusion maths: schedule, forward process, loss, ancestral sampler, guidance (Eq. 1, 2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genflow.model import diffusion as D


def test_cosine_schedule_endpoints_monotone_and_clipped():
    sched = D.get_schedule("cosine")
    t = jnp.linspace(0.0, 1.0, 101)
    lam = sched(t)
    assert float(lam[0]) == pytest.approx(20.0, abs=1e-3)
    assert float(lam[-1]) == pytest.approx(-20.0, abs=1e-3)
    assert bool(jnp.all(jnp.diff(lam) < 0))
    # outside [0, 1] the clip holds the range
    assert float(sched(jnp.asarray(-0.1))) <= 20.0
    assert float(sched(jnp.asarray(1.1))) >= -20.0
    # midpoint of the (truncated) cosine schedule is ~0 log-SNR
    assert abs(float(sched(jnp.asarray(0.5)))) < 0.1


def test_schedule_registry_options_and_unknown_name():
    sched = D.get_schedule("cosine", logsnr_min=-5.0, logsnr_max=5.0)
    assert float(sched(jnp.asarray(0.0))) == pytest.approx(5.0, abs=1e-4)
    assert float(sched(jnp.asarray(1.0))) == pytest.approx(-5.0, abs=1e-4)
    with pytest.raises(ValueError, match="unknown log-SNR schedule 'cosin'"):
        D.get_schedule("cosin")


def _toy_state(batch=4):
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "coords": jax.random.normal(k1, (batch, 2, 3, 3)),
        "lattice": jax.random.normal(k2, (batch, 6)),
    }


def test_diffuse_and_predict_x0_invert():
    x = _toy_state()
    eps = jax.tree.map(lambda a: jnp.ones_like(a) * 0.3, x)
    lam = jnp.array([-3.0, 0.0, 2.0, 8.0])
    z = D.diffuse(x=x, logsnr=lam, eps=eps)
    back = D.predict_x0(z=z, eps=eps, logsnr=lam)
    for k in x:
        np.testing.assert_allclose(back[k], x[k], atol=1e-4)


def test_shape_asserts_catch_mismatched_batch():
    x = _toy_state()
    with pytest.raises(AssertionError):
        D.diffuse(x=x, logsnr=jnp.zeros((3,)), eps=x)


def _oracle(x0):
    """Optimal ε for a point-mass data distribution at x0: (z − α x0)/σ."""

    def model_fn(z, logsnr):
        a = jnp.sqrt(jax.nn.sigmoid(logsnr))
        s = jnp.sqrt(jax.nn.sigmoid(-logsnr))
        return jax.tree.map(lambda zz, xx: (zz - D._bcast(a, zz) * xx) / D._bcast(s, zz), z, x0)

    return model_fn


@pytest.mark.parametrize("gamma", [0.0, 0.1, 1.0])
def test_ancestral_sampler_recovers_point_mass(gamma):
    x0 = _toy_state(3)
    out = D.sample_loop(
        model_fn=_oracle(x0),
        shape_like=x0,
        rng=jax.random.key(1),
        schedule=D.get_schedule("cosine"),
        num_steps=32,
        gamma=gamma,
    )
    for k in x0:
        np.testing.assert_allclose(out[k], x0[k], atol=1e-3)


def test_log_variance_interpolation_between_small_and_large():
    z = {"a": jnp.zeros((1, 4))}
    noise = {"a": jnp.ones((1, 4))}
    eps = {"a": jnp.zeros((1, 4))}
    lt, ls = jnp.array([0.0]), jnp.array([2.0])

    def std(gamma):
        return float(
            D.ancestral_step(
                z_t=z, eps_hat=eps, logsnr_t=lt, logsnr_s=ls, noise=noise, gamma=gamma
            )["a"][0, 0]
        )

    one_minus_r = 1 - np.exp(0.0 - 2.0)
    small = one_minus_r / (1 + np.exp(2.0))  # (1 − r) σ_s²
    large = one_minus_r / (1 + np.exp(0.0))  # (1 − r) σ_t²
    assert std(0.0) == pytest.approx(np.sqrt(small), rel=1e-5)
    assert std(1.0) == pytest.approx(np.sqrt(large), rel=1e-5)
    expected = np.exp(0.5 * (0.1 * np.log(large) + 0.9 * np.log(small)))
    assert std(0.1) == pytest.approx(expected, rel=1e-5)


def test_cfg_formula_and_omega_zero_sampling_equals_conditional():
    x_target = _toy_state(2)
    aux_fn = _oracle(x_target)
    cond_fn = _oracle(jax.tree.map(lambda a: a + 1.0, x_target))
    z = _toy_state(2)
    lam = jnp.array([0.5, -1.0])
    guided = D.cfg_model_fn(cond_fn=cond_fn, aux_fn=aux_fn, guidance=2.0)(z, lam)
    a, c = aux_fn(z, lam), cond_fn(z, lam)
    for k in z:
        np.testing.assert_allclose(guided[k], 3.0 * a[k] - 2.0 * c[k], rtol=1e-5, atol=1e-5)

    kw = dict(
        shape_like=x_target,
        rng=jax.random.key(3),
        schedule=D.get_schedule("cosine"),
        num_steps=16,
        gamma=0.1,
    )
    plain = D.sample_loop(model_fn=aux_fn, **kw)
    omega0 = D.sample_loop(
        model_fn=D.cfg_model_fn(cond_fn=cond_fn, aux_fn=aux_fn, guidance=0.0), **kw
    )
    omega1 = D.sample_loop(
        model_fn=D.cfg_model_fn(cond_fn=cond_fn, aux_fn=aux_fn, guidance=1.0), **kw
    )
    for k in plain:
        np.testing.assert_array_equal(plain[k], omega0[k])
        assert not np.allclose(plain[k], omega1[k])


def test_compiled_loop_equals_per_step_python_loop():
    x0 = _toy_state(2)
    kw = dict(
        model_fn=_oracle(x0),
        rng=jax.random.key(5),
        schedule=D.get_schedule("cosine"),
        num_steps=6,
        gamma=0.1,
    )
    compiled = jax.jit(lambda: D.sample_loop(shape_like=x0, **kw))()
    init_rng, loop_rng = jax.random.split(kw["rng"])
    z = D._normal_like(init_rng, x0)
    for i in range(6):
        z, x_hat = D.sample_step(
            i=i,
            z=z,
            model_fn=kw["model_fn"],
            rng=loop_rng,
            schedule=kw["schedule"],
            num_steps=6,
            gamma=0.1,
        )
    for k in x0:
        np.testing.assert_allclose(compiled[k], x_hat[k], atol=1e-5)


def test_loss_decreases_when_fitting_a_linear_denoiser():
    """Eq. 1 loss with a tiny learnable model ε̂ = c (z − α w): gradient descent lowers it."""
    x = {"v": jnp.tile(jnp.array([[0.5, -0.5, 0.25]]), (64, 1))}
    sched = D.get_schedule("cosine")

    def loss(p, rng):
        def model_fn(z, logsnr):
            a = jnp.sqrt(jax.nn.sigmoid(logsnr))[:, None]
            return {"v": p["c"] * (z["v"] - a * p["w"])}

        return D.loss_fn(model_fn=model_fn, x=x, rng=rng, schedule=sched)[0]

    p = {"w": jnp.zeros((3,)), "c": jnp.asarray(0.0)}
    grad = jax.jit(jax.grad(loss))
    evaluate = jax.jit(loss)
    first = np.mean([float(evaluate(p, jax.random.key(i))) for i in range(20)])
    for i in range(300):
        g = grad(p, jax.random.key(100 + i))
        p = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
    last = np.mean([float(evaluate(p, jax.random.key(i))) for i in range(20)])
    assert last < 0.7 * first


def test_min_snr_weight_caps_the_x_space_weight_and_keeps_the_plain_loss_at_zero():
    logsnr = jnp.array([-6.0, 0.0, float(np.log(5.0)), 6.0])
    snr = jnp.exp(logsnr)
    assert jnp.all(D.min_snr_weight(logsnr, 0.0, "v") == 1.0)
    w_v = D.min_snr_weight(logsnr, 5.0, "v")
    w_eps = D.min_snr_weight(logsnr, 5.0, "eps")
    # v-MSE is (SNR + 1)·x-MSE and ε-MSE is SNR·x-MSE: both become min(SNR, 5)·x-MSE
    np.testing.assert_allclose(w_v * (snr + 1), jnp.minimum(snr, 5.0), rtol=1e-5)
    np.testing.assert_allclose(w_eps * snr, jnp.minimum(snr, 5.0), rtol=1e-5)
    assert w_v[-1] < 0.02 and w_eps[0] == 1.0  # nearly-clean levels get little weight


def test_loss_fn_applies_min_snr_per_example():
    """A model off its v-target by exactly 1 everywhere has loss mean_b w(λ_b)."""
    x = {"a": jnp.full((64, 3), 0.3)}

    def model(z, logsnr):  # recovers ε from z (x is known) and returns v + 1
        a, s = jnp.sqrt(jax.nn.sigmoid(logsnr))[:, None], jnp.sqrt(jax.nn.sigmoid(-logsnr))[:, None]
        eps = (z["a"] - a * x["a"]) / s
        return {"a": a * eps - s * x["a"] + 1.0}

    sched = D.get_schedule("cosine", logsnr_min=-10.0, logsnr_max=10.0)
    rng = jax.random.key(3)
    kw = dict(model_fn=model, x=x, rng=rng, schedule=sched, parameterization="v")
    plain, _ = D.loss_fn(**kw)
    weighted, _ = D.loss_fn(**kw, min_snr_gamma=5.0)
    lam = sched(jax.random.uniform(jax.random.split(rng)[0], (64,)))  # loss_fn's own t draw
    np.testing.assert_allclose(plain, 1.0, rtol=1e-3)
    np.testing.assert_allclose(weighted, D.min_snr_weight(lam, 5.0, "v").mean(), rtol=1e-3)
