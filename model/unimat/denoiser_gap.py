"""How far a UniMat network is from the best denoiser of its own training set (issue 24).

A network trained to convergence on a finite set learns that set's *exact* denoiser, the
posterior mean x̂(z, λ) = Σ_k w_k x_k with w = softmax_k(−‖z − α x_k‖² / 2σ²). Comparing the
two at fixed noise levels, on the training crystals themselves, splits a network's error into
occupied slots, null slots and lattice, and shows at which noise level the atom count goes
wrong: the atoms per crystal in x̂ (slots whose mean coordinate is ≥ −0.5, the decoder's rule)
against the data's. :func:`occupancy_per_step` follows the same count through the sampler's
steps. ``genflow eval denoiser-gap`` prints both for a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from genflow.model import diffusion
from genflow.model.data import load_dataset
from genflow.model.unimat.augment import is_atom
from genflow.model.unimat.network import empty_condition
from genflow.model.unimat.representation import encode_dataset
from genflow.model.unimat.sampler import clip_x, make_denoiser

__all__ = [
    "DEFAULT_LOGSNRS",
    "NoiseLevelGap",
    "StepOccupancy",
    "exact_denoiser",
    "noise_level_gap",
    "occupancy_per_step",
    "training_arrays",
]

#: Noise levels (log-SNR) of the gap table: the composition is decided around λ ∈ [−2, 2].
DEFAULT_LOGSNRS: tuple[float, ...] = (-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0)

ModelFn = Callable[[dict[str, jax.Array], jax.Array], dict[str, jax.Array]]


def exact_denoiser(coords: np.ndarray, lattice: np.ndarray, parameterization: str = "v") -> ModelFn:
    """``model_fn(z, logsnr)`` giving the posterior-mean prediction over a training set.

    ``coords`` (N, L, H, W, 3) and ``lattice`` (N, 6) are the training set as the network sees
    it (lattice standardised). Distances use ‖z‖² − 2 α z·x + α²‖x‖², so memory is O(B·N), not
    O(B·N·D): an MP-20-sized set fits.
    """
    flat = jnp.concatenate(
        [jnp.asarray(coords).reshape(len(coords), -1), jnp.asarray(lattice)], axis=1
    )
    sq = jnp.sum(flat * flat, axis=1)
    n_coords = flat.shape[1] - lattice.shape[1]

    def model_fn(z: dict[str, jax.Array], logsnr: jax.Array) -> dict[str, jax.Array]:
        a, s = (v[:, None] for v in diffusion.alpha_sigma(logsnr))
        zf = jnp.concatenate([z["coords"].reshape(len(logsnr), -1), z["lattice"]], axis=1)
        d2 = jnp.sum(zf * zf, 1, keepdims=True) - 2 * a * (zf @ flat.T) + a**2 * sq[None]
        x_hat = jax.nn.softmax(-d2 / (2 * s**2), axis=1) @ flat
        out = (a * zf - x_hat) / s if parameterization == "v" else (zf - a * x_hat) / s
        return {
            "coords": out[:, :n_coords].reshape(z["coords"].shape),
            "lattice": out[:, n_coords:],
        }

    return model_fn


@dataclass(frozen=True)
class NoiseLevelGap:
    """One noise level: mean squared error of the prediction (in the network's own target,
    ε or v) on occupied slots, null slots and the lattice, for the network and the exact
    denoiser; and the atoms per crystal in each x̂ against the data's."""

    logsnr: float
    net_occupied: float
    net_null: float
    net_lattice: float
    exact_occupied: float
    exact_null: float
    exact_lattice: float
    net_atoms: float
    exact_atoms: float
    data_atoms: float


@dataclass(frozen=True)
class StepOccupancy:
    """One sampling step: atoms per sample in x̂ (mean over samples), network and exact."""

    step: int
    logsnr: float
    net_atoms: float
    exact_atoms: float


def training_arrays(generator, limit: int | None = None) -> dict[str, np.ndarray]:
    """The checkpoint's training set re-encoded on the checkpoint's own element table and
    depth, lattice standardised with its statistics: what the network saw. ``limit`` reads only
    the first rows of each data file (the exact denoiser is then that subset's)."""
    data = generator.config.data
    rows = limit if limit is not None else int(data.get("limit", 0)) or None
    enc = encode_dataset(
        load_dataset(data.source, limit=rows), table=generator.table, max_atoms=generator.max_atoms
    )
    if len(enc) == 0:
        raise ValueError(f"training set {data.source!r}: no row could be encoded")
    lattice = generator.lattice_norm.normalize(enc.lattice.astype(np.float32))
    return {"coords": enc.coords.astype(np.float32), "lattice": np.asarray(lattice, np.float32)}


def _network_fn(generator, n: int, *, one_shot: bool = True) -> ModelFn:
    """The checkpoint's network, unconditioned, as the sampler calls it.

    A self-conditioned network (``model.self_condition``) called ``one_shot`` refines its own
    first estimate, as in training; otherwise it takes the previous x̂ as a third argument.
    """
    cond = empty_condition(n, generator.grid, len(generator.aux_names))
    fn = make_denoiser(generator.model, generator.params, cond, guidance=0.0)
    if one_shot and generator.model.self_condition:
        fn = diffusion.self_conditioned(
            fn, rng=jax.random.key(0), parameterization=generator.parameterization,
            clip_x=clip_x, p=1.0,
        )  # fmt: skip
    return jax.jit(fn)


def _atoms(x_coords: jax.Array) -> float:
    return float(jnp.mean(jnp.sum(is_atom(x_coords), axis=(1, 2, 3))))


def noise_level_gap(
    generator,
    train: dict[str, np.ndarray],
    *,
    rows: int = 64,
    logsnrs: Sequence[float] = DEFAULT_LOGSNRS,
    repeats: int = 2,
    seed: int = 0,
) -> list[NoiseLevelGap]:
    """Per-noise-level errors of ``generator``'s network and of the exact denoiser of
    ``train`` (``coords``, standardised ``lattice``), on the first ``rows`` training crystals,
    unconditioned, averaged over ``repeats`` noise draws."""
    param = generator.parameterization
    exact = jax.jit(exact_denoiser(train["coords"], train["lattice"], param))
    x = {
        "coords": jnp.asarray(train["coords"][:rows]),
        "lattice": jnp.asarray(train["lattice"][:rows]),
    }
    n = len(x["coords"])
    net = _network_fn(generator, n)
    occupied = jnp.broadcast_to(is_atom(x["coords"])[..., None], x["coords"].shape)
    data_atoms = _atoms(x["coords"])
    out = []
    for i, lam in enumerate(logsnrs):
        sums = np.zeros(8)
        for rep in range(repeats):
            key = jax.random.fold_in(jax.random.key(seed), i * repeats + rep)
            k_c, k_l = jax.random.split(key)
            eps = {
                "coords": jax.random.normal(k_c, x["coords"].shape),
                "lattice": jax.random.normal(k_l, x["lattice"].shape),
            }
            logsnr = jnp.full((n,), float(lam))
            z = diffusion.diffuse(x=x, logsnr=logsnr, eps=eps)
            target = eps if param == "eps" else diffusion.v_target(x=x, eps=eps, logsnr=logsnr)
            row = []
            for fn in (net, exact):
                pred = fn(z, logsnr)
                se = jnp.square(pred["coords"] - target["coords"])
                row += [
                    float(jnp.sum(se * occupied) / jnp.maximum(jnp.sum(occupied), 1)),
                    float(jnp.sum(se * ~occupied) / jnp.maximum(jnp.sum(~occupied), 1)),
                    float(jnp.mean(jnp.square(pred["lattice"] - target["lattice"]))),
                ]
                _, x_hat = diffusion.read_output(
                    out=pred, z=z, logsnr=logsnr, parameterization=param
                )
                row.append(_atoms(x_hat["coords"]))
            sums += np.array(row) / repeats
        (no, nn_, nl, na, eo, en, el, ea) = sums.tolist()
        out.append(NoiseLevelGap(float(lam), no, nn_, nl, eo, en, el, na, ea, data_atoms))
    return out


def occupancy_per_step(
    generator,
    train: dict[str, np.ndarray],
    *,
    n: int = 64,
    num_steps: int = 32,
    seed: int = 1,
) -> list[StepOccupancy]:
    """Atoms per sample in x̂ at each ancestral step (the config's γ, ``clip_x``), unconditional,
    for the network and for the exact denoiser of ``train``, from the same initial noise."""
    param = generator.parameterization
    shape_like = {
        "coords": jax.ShapeDtypeStruct((n, *generator.grid, 3), jnp.float32),
        "lattice": jax.ShapeDtypeStruct((n, 6), jnp.float32),
    }
    schedule = diffusion.schedule_from_config(generator.config.diffusion)
    self_cond = bool(generator.model.self_condition)
    fns = {
        "net": _network_fn(generator, n, one_shot=False),
        "exact": jax.jit(exact_denoiser(train["coords"], train["lattice"], param)),
    }
    gamma = float(generator.config.diffusion.gamma)
    counts: dict[str, list[float]] = {}
    for name, fn in fns.items():
        step = jax.jit(
            lambda i, z, rng, x_prev, fn=fn: diffusion.sample_step(
                i=i, z=z, model_fn=fn, rng=rng, schedule=schedule, num_steps=num_steps,
                gamma=gamma, clip_x=clip_x, parameterization=param, x_prev=x_prev,
            )
        )  # fmt: skip
        z, loop_rng = diffusion.init_noise(shape_like=shape_like, rng=jax.random.key(seed))
        carry = self_cond and name == "net"  # the exact denoiser takes no previous x̂
        x_hat = jax.tree.map(jnp.zeros_like, z)
        counts[name] = []
        for i in range(num_steps):
            z, x_hat = step(jnp.asarray(i, jnp.int32), z, loop_rng, x_hat if carry else None)
            counts[name].append(_atoms(x_hat["coords"]))
    logsnr = [float(schedule(jnp.asarray(1.0 - i / num_steps))) for i in range(num_steps)]
    return [
        StepOccupancy(i, logsnr[i], counts["net"][i], counts["exact"][i]) for i in range(num_steps)
    ]
