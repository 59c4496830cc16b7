"""Compiled UniMat sampling: the whole ancestral loop in one ``jax.jit`` program.

:func:`make_sampler` closes over the network and the static settings (steps, γ, guidance) and
returns ``sample(params, cond, rng) -> {"coords", "lattice"}`` whose 256-step loop is a single
``lax.fori_loop`` (see :func:`genflow.model.diffusion.sample_loop`): one compilation per batch
shape, no Python per step.

Exact-composition conditioning is enforced, not hoped for: wherever ``cond["exact"] == −1`` (or
the element is absent by ``cond["types"] == −1``) the slot is known to be empty, so before
every denoiser call its noisy value is replaced by a fresh draw of q(z_t | x = null) (the
replacement method), and the returned coordinates of those slots are set to the null point
exactly. The caller decodes with the conditioning's occupancy mask, so
a sample conditioned on Si4C4 has exactly four Si and four C atoms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import genflow.model.diffusion as diffusion
from genflow.model.unimat.representation import NULL_COORD

__all__ = ["clip_x", "make_denoiser", "make_sampler", "null_mask"]

# Clip x̂ into the data range while sampling: coordinates live in [−1, 1) (null at −1) and
# standardised lattice parameters beyond ±6 σ are far outside any training cell.
_LATTICE_CLIP = 6.0


def null_mask(cond: dict[str, jax.Array]) -> jax.Array:
    """(B, L, H, W, 1) bool: slots the conditioning fixes as empty.

    Exact composition fixes every slot; composition types fix all L slots of each element
    that is absent (so an elements-only sample contains no other element).
    """
    absent = (cond["types"] < -0.5)[:, None, :, :]
    return ((cond["exact"] < -0.5) | absent)[..., None]


def clip_x(x: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """x̂ clipped into the data range before it enters an ancestral step."""
    return {
        "coords": jnp.clip(x["coords"], NULL_COORD, 1.0),
        "lattice": jnp.clip(x["lattice"], -_LATTICE_CLIP, _LATTICE_CLIP),
    }


def make_denoiser(
    model: Any, params: Any, cond: dict[str, jax.Array], *, guidance: float
) -> diffusion.ModelFn:
    """``model_fn(z, logsnr) -> ε`` (or v) for the sampler, with classifier-free guidance (Eq. 2).

    Guidance needs auxiliary properties (``cond["aux_mask"]``); ω is applied only where it is 1.
    A self-conditioned model's function takes the previous x̂ as a third argument.
    """

    def with_cond(c):
        return lambda z, logsnr, x_prev=None: model.apply(params, z, logsnr, c, x_prev, train=False)

    if "aux_mask" not in cond or guidance == 0.0:
        return with_cond(cond)
    no_aux = dict(cond, aux=jnp.zeros_like(cond["aux"]), aux_mask=jnp.zeros_like(cond["aux_mask"]))
    return diffusion.cfg_model_fn(
        cond_fn=with_cond(no_aux), aux_fn=with_cond(cond), guidance=guidance
    )


def make_sampler(
    model: Any,
    *,
    schedule: Callable[[jax.Array], jax.Array],
    num_steps: int,
    gamma: float,
    guidance: float = 0.0,
    parameterization: str = "eps",
    jit: bool = True,
    per_step: bool = False,
) -> Callable[[Any, dict[str, jax.Array], jax.Array], dict[str, jax.Array]]:
    """Build ``sample(params, cond, rng)`` returning normalised ``{"coords", "lattice"}``.

    Parameters
    ----------
    model
        The Flax denoiser (``UNet3D``).
    schedule, num_steps, gamma
        Log-SNR schedule, number of ancestral steps, log-variance interpolation.
    guidance
        Classifier-free guidance ω (0 = plain conditional sampling).
    parameterization
        What the network predicts: ``"eps"`` or ``"v"`` (``config.diffusion.parameterization``).
    jit
        Compile (default); False is for debugging.
    per_step
        Drive the very same step maths from a Python loop, one compiled call per step
        (the baseline ``benchmarks/bench_sampler.py`` compares the compiled loop against).
    """

    def setup(params, cond):
        b, n_l, n_h, n_w = cond["exact"].shape
        fixed = null_mask(cond)

        def project(z, logsnr, key):
            null = jnp.full_like(z["coords"], NULL_COORD)
            eps = jax.random.normal(key, z["coords"].shape)
            known = diffusion.diffuse(x=null, logsnr=logsnr, eps=eps)  # q(z_t | x = null)
            return dict(z, coords=jnp.where(fixed, known, z["coords"]))

        shape_like = {
            "coords": jax.ShapeDtypeStruct((b, n_l, n_h, n_w, 3), jnp.float32),
            "lattice": jax.ShapeDtypeStruct((b, 6), jnp.float32),
        }
        step_kw = dict(
            model_fn=make_denoiser(model, params, cond, guidance=guidance),
            schedule=schedule,
            num_steps=num_steps,
            gamma=gamma,
            clip_x=clip_x,
            project=project,
            parameterization=parameterization,
        )
        return shape_like, step_kw, fixed

    self_condition = bool(getattr(model, "self_condition", False))

    def sample(params: Any, cond: dict[str, jax.Array], rng: jax.Array) -> dict[str, jax.Array]:
        shape_like, step_kw, fixed = setup(params, cond)
        x = diffusion.sample_loop(
            shape_like=shape_like, rng=rng, self_condition=self_condition, **step_kw
        )
        return dict(x, coords=jnp.where(fixed, NULL_COORD, x["coords"]))

    if not per_step:
        return jax.jit(sample) if jit else sample

    def init(params, cond, rng):
        return diffusion.init_noise(shape_like=setup(params, cond)[0], rng=rng)

    def step(params, cond, loop_rng, i, z, x_prev):
        return diffusion.sample_step(
            i=i, z=z, rng=loop_rng, x_prev=x_prev, **setup(params, cond)[1]
        )

    def finish(cond, x):
        return dict(x, coords=jnp.where(null_mask(cond), NULL_COORD, x["coords"]))

    if jit:
        init, step, finish = jax.jit(init), jax.jit(step), jax.jit(finish)

    def sample_per_step(params, cond, rng):
        z, loop_rng = init(params, cond, rng)
        x = jax.tree.map(jnp.zeros_like, z) if self_condition else None
        for i in range(num_steps):
            x_prev = x if self_condition else None
            z, x = step(params, cond, loop_rng, jnp.asarray(i, jnp.int32), z, x_prev)
        return finish(cond, x)

    return sample_per_step
