"""Positions from a representation R by gradient descent on the EAD (basin hopping + Adam).

Sinha, Jia & Fung (2024), §2.3: the atom count, composition and lattice are read straight off
R (Eq. R-1); the positions x ∈ R^{N×3} are found by minimising

.. math::

    \\mathcal L(x) = \\frac{1}{|D|} \\sum_f \\frac{|D_f(x) − D^*_f|}{s_f}        (REC-1)

the L1 distance between the pooled EAD of x (Eq. EAD-3) and the target D*, with Adam, from
random starts, and basin hopping: after each descent of ``iters`` Adam steps, the best
positions so far get a uniform random displacement in [−hop, hop] Å per coordinate and descent
restarts; the best of ``hops`` descents and ``trials`` independent starts is kept. ``s_f``
makes the loss dimensionless (:func:`feature_scale`); every descent's Adam step follows a
cosine decay from ``lr`` to ``lr``/100.

Trials run in parallel under ``vmap``; the hops and the Adam steps are one compiled
``lax.scan`` program per (N, K) shape, cached.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pymatgen.core import Lattice, Structure

from genflow.model.structrepdiff.ead import EADParams, image_offsets, pad_offsets, pooled_ead
from genflow.model.structrepdiff.representation import (
    RepSpec,
    decode_composition,
    decode_lattice,
)

__all__ = [
    "MATCHER_KWARGS",
    "ReconResult",
    "ReconSettings",
    "feature_scale",
    "match_and_rmse",
    "reconstruct",
    "reconstruct_positions",
]

# The paper's reconstruction criterion (pymatgen StructureMatcher).
MATCHER_KWARGS = {"stol": 0.5, "angle_tol": 10.0, "ltol": 0.3}


@dataclass(frozen=True)
class ReconSettings:
    """Basin-hopping settings (paper defaults).

    Attributes
    ----------
    trials
        Independent random starts, run in parallel (vmap).
    hops
        Descents per trial; each after the first starts from the best positions displaced by
        U[−hop, hop] Å per coordinate.
    iters
        Adam steps per descent.
    lr
        Adam learning rate (Å per step, roughly).
    hop
        Displacement half-width in Å.
    """

    trials: int = 6
    hops: int = 7
    iters: int = 300
    lr: float = 0.05
    hop: float = 1.0

    def to_dict(self) -> dict:
        """Plain dict (for reports)."""
        return asdict(self)


@dataclass
class ReconResult:
    """One reconstruction: the structure (or why there is none), loss and time."""

    structure: Structure | None
    loss: float
    seconds: float
    error: str | None = None


def feature_scale(target: np.ndarray, params: EADParams) -> np.ndarray:
    """``s_f`` of Eq. REC-1: the mean |D*| over all ρ entries, and D*_min for the distance.

    One scale for every ρ entry keeps the loss smooth: per-block scales blow up the weight of
    entries that are nearly zero in the target (e.g. l = 1 at centrosymmetric sites), which
    turns the landscape rugged.
    """
    target = np.asarray(target, np.float64)
    assert target.shape == (params.pooled_size,), (target.shape, params.pooled_size)
    scale = np.full_like(target, max(np.abs(target[:-1]).mean(), 1e-12))
    scale[-1] = max(target[-1], 0.5)
    return scale.astype(np.float32)


@functools.lru_cache(maxsize=64)
def _compiled(n: int, k: int, params: EADParams, settings: ReconSettings):
    """Jitted ``run(lattice, weights, offsets, offset_mask, target, scale, key)``."""
    mask = jnp.ones((n,), bool)
    # Each descent anneals the step: cosine decay to 1 % (L1 + constant steps would oscillate).
    opt = optax.adam(optax.cosine_decay_schedule(settings.lr, settings.iters, alpha=0.01))

    def loss_fn(x, lattice, weights, offsets, offset_mask, target, scale):
        d = pooled_ead(x, lattice, weights, mask, offsets, offset_mask, params)
        return jnp.mean(jnp.abs(d - target) / scale)  # Eq. REC-1

    grad_fn = jax.value_and_grad(loss_fn)

    def descend(x, args):
        def step(carry, _):
            x, st = carry
            _, g = grad_fn(x, *args)
            upd, st = opt.update(g, st, x)
            return (optax.apply_updates(x, upd), st), None

        (x, _), _ = jax.lax.scan(step, (x, opt.init(x)), None, length=settings.iters)
        return x, loss_fn(x, *args)

    def one_trial(key, args):
        lattice = args[0]
        k0, k_hops = jax.random.split(key)
        x0 = jax.random.uniform(k0, (n, 3)) @ lattice
        best_x, best_l = descend(x0, args)

        def hop(carry, key_h):
            bx, bl = carry
            start = bx + jax.random.uniform(
                key_h, (n, 3), minval=-settings.hop, maxval=settings.hop
            )
            x, loss = descend(start, args)
            better = loss < bl
            return (jnp.where(better, x, bx), jnp.where(better, loss, bl)), loss

        keys = jax.random.split(k_hops, max(settings.hops - 1, 1))[: settings.hops - 1]
        (best_x, best_l), _ = jax.lax.scan(hop, (best_x, best_l), keys)
        return best_x, best_l

    def run(lattice, weights, offsets, offset_mask, target, scale, key):
        args = (lattice, weights, offsets, offset_mask, target, scale)
        keys = jax.random.split(key, settings.trials)
        xs, losses = jax.vmap(one_trial, in_axes=(0, None))(keys, args)
        best = jnp.argmin(losses)
        return xs[best], losses[best], losses

    return jax.jit(run)


def reconstruct_positions(
    target: np.ndarray,
    lattice: Lattice,
    species: list[str],
    params: EADParams,
    settings: ReconSettings = ReconSettings(),
    *,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Cartesian positions (N, 3) whose pooled EAD best matches ``target``, and the loss.

    Parameters
    ----------
    target
        Pooled EAD D* (Eq. EAD-3), length ``params.pooled_size``, unnormalised.
    lattice
        The cell (fixed during the search).
    species
        Element symbol per atom (N of them).
    params, settings
        Descriptor and basin-hopping settings.
    seed
        PRNG seed; the same inputs and seed give the same positions.
    """
    from pymatgen.core import Element

    n = len(species)
    assert len(target) == params.pooled_size, (len(target), params.pooled_size)
    mat = np.asarray(lattice.matrix, np.float32)
    offsets = image_offsets(mat, params.cutoff)
    k = len(offsets)
    size = 8 * -(-k // 8)  # pad to a multiple of 8: fewer distinct programs
    off, off_mask = pad_offsets(offsets, size)
    run = _compiled(n, size, params, settings)
    weights = np.asarray([Element(s).Z for s in species], np.float32)
    x, loss, _ = run(
        jnp.asarray(mat),
        jnp.asarray(weights),
        jnp.asarray(off),
        jnp.asarray(off_mask),
        jnp.asarray(target, jnp.float32),
        jnp.asarray(feature_scale(target, params)),
        jax.random.key(seed),
    )
    return np.asarray(x, np.float64), float(loss)


def reconstruct(
    rep: np.ndarray, spec: RepSpec, settings: ReconSettings = ReconSettings(), *, seed: int = 0
) -> ReconResult:
    """Structure from an unnormalised R: N, composition and lattice read off, positions fitted.

    A representation whose lattice part describes no cell gives a result with ``error`` set.
    """
    t0 = time.perf_counter()
    rep = np.asarray(rep, np.float64)
    species = decode_composition(rep, spec)
    try:
        lattice = decode_lattice(rep, spec)
    except ValueError as exc:
        return ReconResult(None, float("nan"), time.perf_counter() - t0, str(exc))
    try:
        image_offsets(np.asarray(lattice.matrix), spec.ead.cutoff)
    except ValueError as exc:
        return ReconResult(None, float("nan"), time.perf_counter() - t0, str(exc))
    target = rep[: spec.n_ead].copy()
    target[:-1] = np.maximum(target[:-1], 0.0)  # ρ is a sum of squares
    x, loss = reconstruct_positions(target, lattice, species, spec.ead, settings, seed=seed)
    structure = Structure(lattice, species, x, coords_are_cartesian=True, to_unit_cell=True)
    return ReconResult(structure, loss, time.perf_counter() - t0)


def match_and_rmse(original: Structure, candidate: Structure) -> tuple[bool, float]:
    """StructureMatcher (stol 0.5, angle_tol 10, ltol 0.3) verdict and RMSE.

    The RMSE is pymatgen's ``get_rms_dist`` (normalised by (V/N)^{1/3}, as in CDVAE's
    reconstruction benchmark); NaN when the structures do not match.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(**MATCHER_KWARGS)
    rms = matcher.get_rms_dist(original, candidate)
    if rms is None:
        return False, float("nan")
    return True, float(rms[0])
