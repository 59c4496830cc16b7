"""UniMat glue shared by training and sampling: network, normalisation and conditioning.

vdm splits a frozen model config and output struct from the experiment; this module is that
middle layer. It builds the :class:`~genflow.model.unimat.unet.UNet3D` from a config, maps raw
lattice parameters to the unit-scale numbers that are diffused, and turns coordinates or a
requested composition into the conditioning channels (see ``unet.py`` for their meaning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genflow.model.unimat.augment import is_atom
from genflow.model.unimat.unet import UNet3D

__all__ = [
    "LatticeNorm",
    "build_model",
    "condition_from_coords",
    "drop_conditioning",
    "empty_condition",
]

# Lower bounds on the lattice standard deviations: datasets with all-cubic cells have zero
# spread in the angles, and dividing by ~0 would blow up the sampler's tiny angle noise.
_MIN_STD = np.array([0.1, 0.1, 0.1, 1.0, 1.0, 1.0], dtype=np.float32)


@dataclass(frozen=True)
class LatticeNorm:
    """Affine standardisation of (a, b, c, α, β, γ), fitted on the training set."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, lattice: np.ndarray) -> LatticeNorm:
        """Per-parameter mean and (floored) std of an ``(N, 6)`` array."""
        lattice = np.asarray(lattice, np.float64)
        assert lattice.ndim == 2 and lattice.shape[1] == 6, lattice.shape
        std = np.maximum(lattice.std(axis=0), _MIN_STD)
        return cls(tuple(map(float, lattice.mean(axis=0))), tuple(map(float, std)))

    def normalize(self, lattice: Any) -> Any:
        """Raw (Å, degrees) -> standardised."""
        return (lattice - jnp.asarray(self.mean)) / jnp.asarray(self.std)

    def denormalize(self, lattice: Any) -> Any:
        """Standardised -> raw (Å, degrees)."""
        return lattice * np.asarray(self.std) + np.asarray(self.mean)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe form for checkpoint metadata."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatticeNorm:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(map(float, d["mean"])), tuple(map(float, d["std"])))


def build_model(model_config: Any, grid_shape: tuple[int, int], num_aux: int) -> UNet3D:
    """The denoiser for ``config.model`` on an ``(H, W)`` element table."""
    return UNet3D(
        base_channels=int(model_config.base_channels),
        channel_mults=tuple(model_config.channel_mults),
        num_blocks=int(model_config.num_blocks),
        attn_levels=tuple(model_config.attn_levels),
        head_dim=int(model_config.head_dim),
        dropout=float(model_config.dropout),
        grid_shape=tuple(grid_shape),
        num_aux=int(num_aux),
        self_condition=bool(model_config.get("self_condition", False)),
    )


def condition_from_coords(coords: jax.Array, cell_mask: jax.Array) -> dict[str, jax.Array]:
    """Full conditioning (exact composition and types) read off clean coordinates.

    Parameters
    ----------
    coords
        ``(B, L, H, W, 3)`` clean coordinates (nulls at −1).
    cell_mask
        ``(H, W)`` bool, True for cells that hold an element of the table.

    Returns
    -------
    ``exact`` (B, L, H, W) and ``types`` (B, H, W), both ±1.
    """
    occ = is_atom(coords)
    present = occ.any(axis=1) & cell_mask[None]
    return {
        "exact": jnp.where(occ, 1.0, -1.0).astype(jnp.float32),
        "types": jnp.where(present, 1.0, -1.0).astype(jnp.float32),
    }


def empty_condition(batch: int, grid: tuple[int, int, int], num_aux: int) -> dict[str, jax.Array]:
    """All-zero (= unconditional) conditioning for a batch."""
    n_l, n_h, n_w = grid
    cond = {
        "exact": jnp.zeros((batch, n_l, n_h, n_w), jnp.float32),
        "types": jnp.zeros((batch, n_h, n_w), jnp.float32),
    }
    if num_aux:
        cond["aux"] = jnp.zeros((batch, num_aux), jnp.float32)
        cond["aux_mask"] = jnp.zeros((batch,), jnp.float32)
    return cond


def drop_conditioning(
    rng: jax.Array,
    cond: dict[str, jax.Array],
    *,
    p_uncond: float,
    p_types: float,
    p_aux_drop: float,
) -> dict[str, jax.Array]:
    """Randomly weaken the conditioning per example, so one network learns every mode.

    With probability ``p_uncond`` both composition channels are zeroed (unconditional); else
    with probability ``p_types`` only the types channel is kept; otherwise the exact
    composition is kept (the types channel too, as it follows from it). Independently the
    auxiliary properties are dropped with ``p_aux_drop`` (the property dropout that classifier-
    free guidance, Eq. 2, needs).
    """
    k_mode, k_aux = jax.random.split(rng)
    batch = cond["types"].shape[0]
    u = jax.random.uniform(k_mode, (batch,))
    keep_any = (u >= p_uncond).astype(jnp.float32)
    keep_exact = (u >= p_uncond + p_types).astype(jnp.float32)
    out = dict(cond)
    out["exact"] = cond["exact"] * keep_exact[:, None, None, None]
    out["types"] = cond["types"] * keep_any[:, None, None]
    if "aux_mask" in cond:
        keep_aux = (jax.random.uniform(k_aux, (batch,)) >= p_aux_drop).astype(jnp.float32)
        out["aux_mask"] = cond["aux_mask"] * keep_aux
        out["aux"] = cond["aux"] * out["aux_mask"][:, None]
    return out
