"""Data augmentation for the UniMat tensor: atom order along L and periodic translation.

Pure JAX, key-explicit and jit-friendly (no Python control flow on array values); every
function takes coordinates shaped ``(..., L, H, W, 3)`` so it works on one crystal or a batch,
and each crystal in a batch gets its own random draw.

Invariances covered
-------------------
* **Permutation of same-element atoms** (:func:`permute_atoms`): the atoms of one element are
  an unordered set, but the tensor stores them in slots ``0…L−1``; shuffling the slots of every
  cell teaches the denoiser that slot order carries no meaning.
* **Periodic translation** (:func:`translate`): shifting every atom by the same fractional
  vector and wrapping into ``[0, 1)`` gives the same crystal.

Not covered
-----------
* **Rotation / reflection**: already factored out, because the lattice enters as the
  rotation-invariant parameters (a, b, c, α, β, γ) and atoms as fractional coordinates.
* **Choice of unit cell** (other bases of the same lattice, e.g. Niggli vs. not, or axis
  permutations) and **supercells**: the same crystal written in another cell is a different
  tensor; no augmentation here changes the cell.

Null slots (mean coordinate below ``NULL_THRESHOLD``) are never moved by a translation and stay
at the null location ``(−1, −1, −1)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["NULL_THRESHOLD", "augment", "is_atom", "permute_atoms", "translate"]

# Same rule as representation.decode: mean coordinate below −0.5 means "no atom".
NULL_THRESHOLD: float = -0.5


def _uniform(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """U[0, 1) of ``shape``, drawn flat: XLA:CPU compiles the partitionable threefry for an
    n-d shape ~10x slower than for the same number of values in 1-d."""
    return jax.random.uniform(key, (math.prod(shape),), dtype=dtype).reshape(shape)


def is_atom(coords: jax.Array) -> jax.Array:
    """``(..., L, H, W)`` bool: slots holding an atom rather than the null location."""
    return jnp.mean(coords, axis=-1) >= NULL_THRESHOLD


def permute_atoms(key: jax.Array, coords: jax.Array, *, keep_packed: bool = True) -> jax.Array:
    """Randomly reorder the atoms of each element cell along the L axis.

    Parameters
    ----------
    key
        JAX PRNG key.
    coords
        ``(..., L, H, W, 3)`` UniMat coordinates.
    keep_packed
        If True (default), the atoms of a cell are shuffled among themselves and stay in the
        first ``n`` slots, nulls after them, so an exact-composition mask (first ``n`` slots
        per cell) still matches the data. If False, all ``L`` slots are shuffled, so atoms may
        land in any slot.

    Returns
    -------
    jax.Array
        Same shape; the multiset of coordinates in every cell is unchanged.
    """
    u = _uniform(key, coords.shape[:-1])  # one sort key per slot
    if keep_packed:
        # Atoms get keys in [0, 1); nulls get 2 + slot index, so they sort after all atoms
        # and keep their relative order.
        slot = jnp.arange(coords.shape[-4], dtype=u.dtype)[:, None, None]
        u = jnp.where(is_atom(coords), u, 2.0 + slot)
    order = jnp.argsort(u, axis=-3)  # axis of L in (..., L, H, W)
    return jnp.take_along_axis(coords, order[..., None], axis=-4)


def translate(key: jax.Array, coords: jax.Array) -> jax.Array:
    """Shift all atoms of each crystal by one random fractional vector, wrapped into [0, 1).

    Parameters
    ----------
    key
        JAX PRNG key.
    coords
        ``(..., L, H, W, 3)`` UniMat coordinates.

    Returns
    -------
    jax.Array
        Same shape; null slots untouched.
    """
    batch = coords.shape[:-4]
    shift = _uniform(key, (*batch, 1, 1, 1, 3), dtype=coords.dtype)
    moved = jnp.mod(coords + shift, 1.0)
    moved = jnp.where(moved >= 1.0, 0.0, moved)  # float rounding can give exactly 1.0
    return jnp.where(is_atom(coords)[..., None], moved, coords)


def augment(
    key: jax.Array,
    coords: jax.Array,
    *,
    permute: bool = True,
    shift: bool = True,
    keep_packed: bool = True,
) -> jax.Array:
    """Apply :func:`permute_atoms` then :func:`translate` with independent subkeys.

    The flags are Python bools (static under ``jax.jit``: close over them or mark them
    ``static_argnames``).
    """
    k_perm, k_shift = jax.random.split(key)
    if permute:
        coords = permute_atoms(k_perm, coords, keep_packed=keep_packed)
    if shift:
        coords = translate(k_shift, coords)
    return coords
