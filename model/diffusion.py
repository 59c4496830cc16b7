"""Continuous-time Gaussian diffusion maths for UniMat (pure JAX, no Flax).

Everything here works on a *pytree* of arrays that share a leading batch axis (the UniMat
state is ``{"coords": [B, L, H, W, 3], "lattice": [B, 6]}``), so coordinates and lattice
parameters are diffused jointly with one schedule, as Yang et al. (2023) concatenate them.

Conventions (VDM / Imagen): ``logsnr = λ(t)``, ``α² = sigmoid(λ)``, ``σ² = sigmoid(−λ)``,
``z_t = α x + σ ε``; the network predicts ε or v (below). Time runs from t=0 (data, λ=+20) to t=1
(noise, λ=−20). The sampler takes a ``model_fn(z, logsnr) -> eps`` closure, never a network,
and runs its whole loop inside one ``lax.fori_loop`` so it compiles once.

Paper formulas living here (Yang et al. 2023, "Scalable Diffusion for Materials Generation"):
the ε-prediction MSE loss (Eq. 1) and classifier-free guidance (Eq. 2).

Parameterizations (``PARAMETERIZATIONS``): the network output is read as ε (``"eps"``, Eq. 1)
or as the velocity v = α ε − σ x (``"v"``, Salimans & Ho 2022). With ε-prediction the data
estimate x̂ = (z − σ ε̂)/α multiplies any ε error by 1/α (up to e^10 ≈ 22,000 at λ = −20), so
in the noisy half of a sampling run x̂ is clipped noise; UniMat's null slots sit at −1, the
lower clip bound, so that noise is biased towards "atom" and every slot drifts into the atom
range (the bundled 2023 checkpoint emitted ~165 atoms in 168 slots). With v-prediction,
x̂ = α z − σ v̂ is well conditioned at every noise level and the loss weights x-errors by
1 + SNR instead of SNR, so the network learns E[x | z] where the sampler needs it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "PARAMETERIZATIONS",
    "SCHEDULES",
    "alpha_sigma",
    "ancestral_step",
    "cfg_model_fn",
    "cosine_logsnr",
    "diffuse",
    "get_schedule",
    "init_noise",
    "loss_fn",
    "min_snr_weight",
    "predict_x0",
    "read_output",
    "sample_loop",
    "schedule_from_config",
    "self_conditioned",
    "timestep_embedding",
    "v_target",
]

PyTree = Any
ModelFn = Callable[[PyTree, jax.Array], PyTree]
LOGSNR_MIN = -20.0
LOGSNR_MAX = 20.0
PARAMETERIZATIONS = ("eps", "v")


# --------------------------------------------------------------------------- schedules
def cosine_logsnr(
    t: jax.Array, *, logsnr_min: float = LOGSNR_MIN, logsnr_max: float = LOGSNR_MAX
) -> jax.Array:
    """Cosine log-SNR schedule λ(t) = −2 log tan(a t + b), clipped to [logsnr_min, logsnr_max].

    ``a`` and ``b`` truncate the cosine schedule so that λ(0) = logsnr_max and
    λ(1) = logsnr_min exactly; t is clipped into [0, 1] and λ into the range against round-off.
    """
    assert logsnr_min < logsnr_max, (logsnr_min, logsnr_max)
    b = math.atan(math.exp(-0.5 * logsnr_max))
    a = math.atan(math.exp(-0.5 * logsnr_min)) - b
    t = jnp.clip(jnp.asarray(t, jnp.float32), 0.0, 1.0)  # tan is only monotone on [b, a + b]
    logsnr = -2.0 * jnp.log(jnp.tan(a * t + b))
    return jnp.clip(logsnr, logsnr_min, logsnr_max)


def linear_logsnr(
    t: jax.Array, *, logsnr_min: float = LOGSNR_MIN, logsnr_max: float = LOGSNR_MAX
) -> jax.Array:
    """Log-SNR linear in t (the VDM fixed baseline); mostly useful for tests and ablations."""
    t = jnp.asarray(t, jnp.float32)
    return jnp.clip(logsnr_max + (logsnr_min - logsnr_max) * t, logsnr_min, logsnr_max)


# Name -> partial registry (diffusion_distillation/schedules.py style): configs pick by name.
SCHEDULES: dict[str, Callable[..., Callable[[jax.Array], jax.Array]]] = {
    "cosine": lambda **kw: functools.partial(cosine_logsnr, **kw),
    "linear": lambda **kw: functools.partial(linear_logsnr, **kw),
}


def get_schedule(name: str, **kwargs: float) -> Callable[[jax.Array], jax.Array]:
    """Return the log-SNR schedule ``t -> λ(t)`` registered under ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered schedule.
    """
    try:
        factory = SCHEDULES[name]
    except KeyError:
        raise ValueError(
            f"unknown log-SNR schedule {name!r}; known schedules: {sorted(SCHEDULES)}"
        ) from None
    return factory(**kwargs)


def schedule_from_config(d: Any) -> Callable[[jax.Array], jax.Array]:
    """The schedule a model config's ``diffusion`` block names (``schedule``, ``logsnr_min``,
    ``logsnr_max``): what training, sampling and diagnostics of one checkpoint must share."""
    return get_schedule(d.schedule, logsnr_min=d.logsnr_min, logsnr_max=d.logsnr_max)


# --------------------------------------------------------------------------- helpers
def _batch_size(tree: PyTree) -> int:
    leaves = jax.tree.leaves(tree)
    assert leaves, "empty diffusion state"
    batch = leaves[0].shape[0]
    for leaf in leaves:
        assert leaf.ndim >= 1 and leaf.shape[0] == batch, (leaf.shape, batch)
    return batch


def _bcast(v: jax.Array, leaf: jax.Array) -> jax.Array:
    """Broadcast a per-example [B] vector against a [B, ...] leaf."""
    return v.reshape(v.shape + (1,) * (leaf.ndim - 1))


def alpha_sigma(logsnr: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(α, σ) of a log-SNR: α² = sigmoid(λ), σ² = sigmoid(−λ) (module conventions)."""
    return jnp.sqrt(jax.nn.sigmoid(logsnr)), jnp.sqrt(jax.nn.sigmoid(-logsnr))


def _split_like(key: jax.Array, tree: PyTree) -> PyTree:
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, list(keys))


def _normal_like(key: jax.Array, tree: PyTree) -> PyTree:
    keys = _split_like(key, tree)
    return jax.tree.map(lambda k, x: jax.random.normal(k, x.shape, x.dtype), keys, tree)


# --------------------------------------------------------------------------- forward process
def diffuse(*, x: PyTree, logsnr: jax.Array, eps: PyTree) -> PyTree:
    """Sample q(z_t | x) = N(α_t x, σ_t² I) with the given noise: z = α x + σ ε."""
    batch = _batch_size(x)
    assert logsnr.shape == (batch,), (logsnr.shape, batch)
    alpha, sigma = alpha_sigma(logsnr)
    return jax.tree.map(lambda x_, e: _bcast(alpha, x_) * x_ + _bcast(sigma, x_) * e, x, eps)


def predict_x0(*, z: PyTree, eps: PyTree, logsnr: jax.Array) -> PyTree:
    """Invert z = α x + σ ε for x given a predicted ε."""
    alpha, sigma = alpha_sigma(logsnr)
    return jax.tree.map(lambda z_, e: (z_ - _bcast(sigma, z_) * e) / _bcast(alpha, z_), z, eps)


def _check_parameterization(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"unknown parameterization {parameterization!r}; known: {list(PARAMETERIZATIONS)}"
        )


def read_output(
    *, out: PyTree, z: PyTree, logsnr: jax.Array, parameterization: str = "eps"
) -> tuple[PyTree, PyTree]:
    """Turn a network output into ``(ε̂, x̂)`` for the given parameterization.

    ``"eps"``: ε̂ = out, x̂ = (z − σ ε̂)/α. ``"v"``: x̂ = α z − σ v̂, ε̂ = σ z + α v̂.
    """
    _check_parameterization(parameterization)
    if parameterization == "eps":
        return out, predict_x0(z=z, eps=out, logsnr=logsnr)
    alpha, sigma = alpha_sigma(logsnr)

    def x_of(z_, v):
        return _bcast(alpha, z_) * z_ - _bcast(sigma, z_) * v

    def eps_of(z_, v):
        return _bcast(sigma, z_) * z_ + _bcast(alpha, z_) * v

    return jax.tree.map(eps_of, z, out), jax.tree.map(x_of, z, out)


def v_target(*, x: PyTree, eps: PyTree, logsnr: jax.Array) -> PyTree:
    """The v-parameterisation's target v = α ε − σ x (Salimans & Ho 2022, §4)."""
    alpha, sigma = alpha_sigma(logsnr)
    return jax.tree.map(lambda e, x_: _bcast(alpha, e) * e - _bcast(sigma, e) * x_, eps, x)


def min_snr_weight(logsnr: jax.Array, gamma: float, parameterization: str) -> jax.Array:
    """Per-example Min-SNR-γ loss weight (Hang et al. 2023, Eq. 8); all ones for γ = 0."""
    if gamma <= 0:
        return jnp.ones_like(logsnr)
    snr = jnp.exp(logsnr)
    return jnp.minimum(snr, gamma) / (snr + 1.0 if parameterization == "v" else snr)


def loss_fn(
    *,
    model_fn: ModelFn,
    x: PyTree,
    rng: jax.Array,
    schedule: Callable[[jax.Array], jax.Array],
    weights: PyTree | None = None,
    parameterization: str = "eps",
    element_weights: PyTree | None = None,
    min_snr_gamma: float = 0.0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """ε-prediction MSE loss (Yang et al. 2023, Eq. 1): E_{t,ε} ||ε − ε_θ(α_t x + σ_t ε, t)||².

    With ``parameterization="v"`` the target is v = α ε − σ x instead of ε (same expectation
    over t and ε; see the module docstring for why UniMat's null slots need it).

    Parameters
    ----------
    model_fn
        ``(z, logsnr[B]) -> eps`` with the same pytree structure as ``x``.
    x
        Clean data pytree, leading batch axis B on every leaf.
    rng
        PRNG key; split explicitly into the t and ε keys.
    schedule
        ``t -> λ(t)``.
    weights
        Optional per-leaf scalar weights (default 1); the loss is the weighted mean over leaves of
        each leaf's per-element mean squared error, so a 6-number lattice is not drowned by the
        coordinate tensor.
    element_weights
        Optional per-element weights, a pytree with some leaves ``None`` (unweighted) and others
        arrays broadcastable to that leaf: the leaf's loss is then the weighted mean
        ``Σ w (target − out)² / Σ w``. UniMat weights occupied coordinate slots against the
        far more numerous null slots (``config.diffusion.atom_weight``).
    min_snr_gamma
        γ > 0 weights each example by Min-SNR-γ (Hang et al. 2023, Eq. 8):
        min(SNR, γ)/SNR for ε and min(SNR, γ)/(SNR + 1) for v, i.e. an x-space weight capped
        at γ. The weight depends on the noise level only, so each level's optimum (the
        posterior mean) is unchanged; what changes is how much of the gradient goes to the
        nearly-clean levels. 0 (default) is the plain loss.

    Returns
    -------
    (scalar loss, dict of per-leaf losses)
    """
    _check_parameterization(parameterization)
    batch = _batch_size(x)
    t_rng, eps_rng = jax.random.split(rng)
    t = jax.random.uniform(t_rng, (batch,))
    logsnr = schedule(t)
    eps = _normal_like(eps_rng, x)
    z = diffuse(x=x, logsnr=logsnr, eps=eps)
    out = model_fn(z, logsnr)
    assert jax.tree.structure(out) == jax.tree.structure(x), "model_fn output structure"
    target = v_target(x=x, eps=eps, logsnr=logsnr) if parameterization == "v" else eps
    time_w = min_snr_weight(logsnr, min_snr_gamma, parameterization)
    sq = jax.tree.map(lambda e, eh: _bcast(time_w, e) * jnp.square(e - eh), target, out)
    per_leaf = jax.tree.map(jnp.mean, sq)
    if element_weights is not None:
        for key, w in element_weights.items():
            if w is not None:
                w = jnp.broadcast_to(w, sq[key].shape)
                per_leaf[key] = jnp.sum(w * sq[key]) / jnp.sum(w)
    if weights is None:
        weights = jax.tree.map(lambda _: 1.0, per_leaf)
    total_w = sum(jax.tree.leaves(weights))
    loss = sum(jax.tree.leaves(jax.tree.map(lambda loss, w: w * loss, per_leaf, weights)))
    return loss / total_w, per_leaf


def self_conditioned(
    model_fn: Callable[[PyTree, jax.Array, PyTree], PyTree],
    *,
    rng: jax.Array,
    parameterization: str,
    clip_x: Callable[[PyTree], PyTree] | None = None,
    p: float = 0.5,
) -> ModelFn:
    """Self-conditioning for training (Chen, Zhang & Hinton 2022, "Analog Bits", §3.2).

    ``model_fn(z, logsnr, x_prev)`` also sees an estimate of x. Returns the
    ``(z, logsnr) -> out`` that :func:`loss_fn` trains: with probability ``p`` (once per
    batch) x_prev is the network's own x̂ from a first pass with x_prev = 0, with gradients
    stopped; otherwise x_prev = 0. The sampler then feeds each step the previous step's x̂
    (:func:`sample_loop` with ``self_condition=True``), so the net refines its own estimate
    instead of deciding every slot afresh from z alone. ``clip_x`` is the sampler's clip,
    applied here too so training and sampling hand the net the same kind of estimate.
    """

    def fn(z: PyTree, logsnr: jax.Array) -> PyTree:
        zeros = jax.tree.map(jnp.zeros_like, z)

        def estimate(_):
            out = model_fn(z, logsnr, zeros)
            _, x_hat = read_output(out=out, z=z, logsnr=logsnr, parameterization=parameterization)
            x_hat = clip_x(x_hat) if clip_x is not None else x_hat
            return jax.lax.stop_gradient(x_hat)

        use = jax.random.uniform(rng) < p
        x_prev = jax.lax.cond(use, estimate, lambda _: zeros, None)
        return model_fn(z, logsnr, x_prev)

    return fn


# --------------------------------------------------------------------------- guidance
def cfg_model_fn(*, cond_fn: ModelFn, aux_fn: ModelFn, guidance: float) -> ModelFn:
    """Classifier-free guidance (Yang et al. 2023, Eq. 2).

    ε̂(x, t | c, aux) = (1 + ω) ε(x, t | c, aux) − ω ε(x, t | c).

    ``aux_fn`` evaluates the denoiser with the composition c *and* the auxiliary properties;
    ``cond_fn`` with c only (properties dropped, as during property-dropout training).
    With ω = 0 this is exactly ``aux_fn``: the unguided conditional model is never evaluated.
    """
    if guidance == 0.0:
        return aux_fn

    def guided(z: PyTree, logsnr: jax.Array, *x_prev: PyTree) -> PyTree:
        e_aux = aux_fn(z, logsnr, *x_prev)
        e_c = cond_fn(z, logsnr, *x_prev)
        return jax.tree.map(lambda a, c: (1.0 + guidance) * a - guidance * c, e_aux, e_c)

    return guided


# --------------------------------------------------------------------------- sampling
def ancestral_step(
    *,
    z_t: PyTree,
    eps_hat: PyTree,
    logsnr_t: jax.Array,
    logsnr_s: jax.Array,
    noise: PyTree,
    gamma: float,
    clip_x: Callable[[PyTree], PyTree] | None = None,
    x_hat: PyTree | None = None,
) -> PyTree:
    """One ancestral step z_t -> z_s (s < t, so λ_s > λ_t) of p(z_s | z_t).

    Mean: the posterior mean of q(z_s | z_t, x̂) with x̂ from the predicted ε. Variance: the
    log-variance interpolation of Nichol & Dhariwal (2021) between the two standard DDPM
    choices, log σ² = γ log σ²_large + (1 − γ) log σ²_small, where
    σ²_small = (1 − e^{λ_t − λ_s}) σ_s² (the true posterior variance, "β̃") and
    σ²_large = (1 − e^{λ_t − λ_s}) σ_t² ("β"). γ = 0.1 in the paper.

    ``logsnr_t`` and ``logsnr_s`` are per-example [B] vectors. ``clip_x`` optionally projects
    x̂ (e.g. clips it into the data range) before it enters the mean. ``x_hat`` overrides the
    x̂ derived from ``eps_hat`` (a v-prediction network gives a better conditioned one).
    """
    batch = _batch_size(z_t)
    assert logsnr_t.shape == logsnr_s.shape == (batch,), (logsnr_t.shape, logsnr_s.shape)
    if x_hat is None:
        x_hat = predict_x0(z=z_t, eps=eps_hat, logsnr=logsnr_t)
    if clip_x is not None:
        x_hat = clip_x(x_hat)
    alpha_s, _ = alpha_sigma(logsnr_s)
    alpha_t, _ = alpha_sigma(logsnr_t)
    r = jnp.exp(logsnr_t - logsnr_s)  # SNR(t)/SNR(s) < 1
    one_minus_r = -jnp.expm1(logsnr_t - logsnr_s)
    log_one_minus_r = jnp.log(jnp.maximum(one_minus_r, 1e-30))
    logvar_small = log_one_minus_r + jax.nn.log_sigmoid(-logsnr_s)
    logvar_large = log_one_minus_r + jax.nn.log_sigmoid(-logsnr_t)
    logvar = gamma * logvar_large + (1.0 - gamma) * logvar_small
    std = jnp.exp(0.5 * logvar)
    coef_z = r * alpha_s / alpha_t
    coef_x = one_minus_r * alpha_s

    def step(z, xh, n):
        return _bcast(coef_z, z) * z + _bcast(coef_x, z) * xh + _bcast(std, z) * n

    return jax.tree.map(step, z_t, x_hat, noise)


def init_noise(*, shape_like: PyTree, rng: jax.Array) -> tuple[PyTree, jax.Array]:
    """z_1 ~ N(0, I) shaped like ``shape_like`` and the key the steps fold their index into
    (``sample_loop`` and a per-step driver share it, so both draw the same numbers)."""
    init_rng, loop_rng = jax.random.split(rng)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape_like)
    return _normal_like(init_rng, zeros), loop_rng


def sample_loop(
    *,
    model_fn: ModelFn,
    shape_like: PyTree,
    rng: jax.Array,
    schedule: Callable[[jax.Array], jax.Array],
    num_steps: int,
    gamma: float = 0.1,
    clip_x: Callable[[PyTree], PyTree] | None = None,
    project: Callable[[PyTree, jax.Array, jax.Array], PyTree] | None = None,
    parameterization: str = "eps",
    self_condition: bool = False,
) -> PyTree:
    """Ancestral sampling from t=1 to t=0 in ``num_steps`` steps, as one ``lax.fori_loop``.

    Parameters
    ----------
    model_fn
        ``(z, logsnr[B]) -> eps``; closes over parameters and conditioning.
    shape_like
        Pytree of arrays (or ``jax.ShapeDtypeStruct``) giving the state shapes, batch first.
    rng
        PRNG key; step i uses ``fold_in(rng, i)`` so the result does not depend on how the loop
        is executed (compiled whole, or one step at a time).
    schedule, num_steps, gamma, clip_x
        See :func:`ancestral_step`.
    project
        Optional ``(z, logsnr[B], rng) -> z`` applied before every denoiser call, e.g. to
        overwrite the entries fixed by exact-composition conditioning with freshly noised
        known values (the "replacement" method of conditional sampling).
    parameterization
        How ``model_fn``'s output is read: ``"eps"`` or ``"v"`` (see :func:`read_output`).
    self_condition
        ``model_fn`` is ``(z, logsnr, x_prev)`` and is given the previous step's x̂ (zeros at
        the first step): self-conditioning (Chen, Zhang & Hinton 2022, §3.2).

    Returns
    -------
    The final x̂ (the denoised prediction at the last step), same structure as ``shape_like``.
    """
    _batch_size(shape_like)
    assert num_steps >= 1, num_steps
    z, loop_rng = init_noise(shape_like=shape_like, rng=rng)

    # Every step shares all arguments but the index; the last step's x̂ is the sample.
    step = functools.partial(
        sample_step,
        model_fn=model_fn,
        rng=loop_rng,
        schedule=schedule,
        num_steps=num_steps,
        gamma=gamma,
        clip_x=clip_x,
        project=project,
        parameterization=parameterization,
    )

    # The carry holds the previous x̂ too: x̂_0 = 0 ("no estimate yet", as in training); only a
    # self-conditioned model_fn is given it.
    def step_carry(i, carry):
        return step(i=i, z=carry[0], x_prev=carry[1] if self_condition else None)

    carry = (z, jax.tree.map(jnp.zeros_like, z))
    carry = jax.lax.fori_loop(0, num_steps - 1, step_carry, carry)
    return step_carry(num_steps - 1, carry)[1]


def sample_step(
    *,
    i: jax.Array | int,
    z: PyTree,
    model_fn: ModelFn,
    rng: jax.Array,
    schedule: Callable[[jax.Array], jax.Array],
    num_steps: int,
    gamma: float,
    clip_x: Callable[[PyTree], PyTree] | None = None,
    project: Callable[[PyTree, jax.Array, jax.Array], PyTree] | None = None,
    parameterization: str = "eps",
    x_prev: PyTree | None = None,
) -> tuple[PyTree, PyTree]:
    """Step ``i`` of ``num_steps`` (i=0 at t=1): returns (z_s, x̂ predicted from z_t).

    Exposed separately so a per-step Python loop (benchmarks) runs the very same maths.
    With ``x_prev`` (self-conditioning, see :func:`sample_loop`) the denoiser is called as
    ``model_fn(z, logsnr, x_prev)``.
    """
    batch = _batch_size(z)
    t = 1.0 - jnp.asarray(i, jnp.float32) / num_steps
    s = 1.0 - (jnp.asarray(i, jnp.float32) + 1.0) / num_steps
    logsnr_t = jnp.full((batch,), schedule(t))
    logsnr_s = jnp.full((batch,), schedule(s))
    noise_rng, project_rng = jax.random.split(jax.random.fold_in(rng, i))
    if project is not None:
        z = project(z, logsnr_t, project_rng)
    out = model_fn(z, logsnr_t) if x_prev is None else model_fn(z, logsnr_t, x_prev)
    eps_hat, x_hat = read_output(out=out, z=z, logsnr=logsnr_t, parameterization=parameterization)
    if clip_x is not None:
        x_hat = clip_x(x_hat)
    noise = _normal_like(noise_rng, z)
    z_s = ancestral_step(
        z_t=z,
        eps_hat=eps_hat,
        logsnr_t=logsnr_t,
        logsnr_s=logsnr_s,
        noise=noise,
        gamma=gamma,
        x_hat=x_hat,
    )
    return z_s, x_hat


def timestep_embedding(logsnr: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Sinusoidal embedding of log-SNR, rescaled from [−20, 20] to [0, 1000] like DDPM steps.

    The noise-level input of both denoisers (UniMat's 3D U-Net, StructRepDiff's 1D U-Net).
    """
    assert logsnr.ndim == 1, logsnr.shape
    t = (logsnr + 20.0) / 40.0 * 1000.0
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = t[:, None] * freqs[None]
    emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)
    if dim % 2:
        emb = jnp.pad(emb, ((0, 0), (0, 1)))
    return emb
