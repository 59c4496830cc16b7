"""Embedded atom density (EAD) descriptor in JAX: periodic, differentiable in the positions.

Sinha, Jia & Fung (2024), "Representation-space diffusion models for generating periodic
materials", describe each atom i by the embedded atom density of Zhang et al. (2019):

.. math::

    ρ_i(l, η, r_s) = \\sum_{l_x + l_y + l_z = l} \\frac{l!}{l_x!\\, l_y!\\, l_z!}
        \\Big( \\sum_{j ≠ i} Z_j\\, f_c(r_{ij})\\, \\hat x_{ij}^{l_x} \\hat y_{ij}^{l_y}
        \\hat z_{ij}^{l_z}\\, e^{-η (r_{ij} - r_s)^2} \\Big)^2            (EAD-1)

.. math::

    f_c(r) = \\tfrac12 \\big(\\cos(π r / r_c) + 1\\big) \\; [r < r_c]          (EAD-2)

for l = 0 … l_max (2), where j runs over every periodic image within the cutoff r_c,
``(x̂, ŷ, ẑ)`` is the unit vector from i to j and Z_j the atomic number. Using unit vectors
(instead of raw Cartesian powers) keeps all l on one length scale; the multinomial sum makes
ρ rotation invariant (it equals Σ_{jk} c_j c_k (û_j·û_k)^l). A structure is pooled into

.. math::

    D = [\\max_i ρ_i ;\\ \\min_i ρ_i ;\\ \\min_{i, j, n} r_{ij + n}]           (EAD-3)

Shapes are fixed for ``jit``/``vmap``: atoms are padded to ``N`` with ``atom_mask`` and the
lattice translations to ``K`` with ``offset_mask``. :func:`image_offsets` computes, from the
lattice, the integer translations needed so that *every* image within r_c is present, also
for skewed cells (it uses the interplanar spacings, not the cell lengths); pair vectors use
minimum-image fractional differences, so which image an atom is written in does not matter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "EADParams",
    "ead_per_atom",
    "image_offsets",
    "monomials",
    "pad_offsets",
    "pooled_ead",
]

_BIG = 1e6  # stands in for +inf in masked minima (keeps gradients finite)
_MAX_IMAGES = 24  # |n_k| above this means a degenerate (flat) cell


@dataclass(frozen=True)
class EADParams:
    """Hyperparameters of Eq. EAD-1.

    Attributes
    ----------
    cutoff
        r_c in Å (Eq. EAD-2).
    etas
        Gaussian widths η in Å⁻².
    r_s
        Gaussian centres in Å.
    l_max
        Highest angular momentum (the paper uses 0, 1, 2).
    """

    cutoff: float = 5.0
    etas: tuple[float, ...] = (0.5, 2.0, 8.0)
    r_s: tuple[float, ...] = field(default=(0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0))
    l_max: int = 2

    @property
    def n_radial(self) -> int:
        """Number of (η, r_s) pairs."""
        return len(self.etas) * len(self.r_s)

    @property
    def n_features(self) -> int:
        """Per-atom descriptor length (l_max + 1) · |η| · |r_s|."""
        return (self.l_max + 1) * self.n_radial

    @property
    def pooled_size(self) -> int:
        """Length of Eq. EAD-3: max, min and the minimum distance."""
        return 2 * self.n_features + 1

    def to_dict(self) -> dict:
        """JSON-able form (for checkpoint ``meta.json``)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> EADParams:
        """Inverse of :meth:`to_dict`."""
        return cls(
            cutoff=float(d["cutoff"]),
            etas=tuple(float(x) for x in d["etas"]),
            r_s=tuple(float(x) for x in d["r_s"]),
            l_max=int(d["l_max"]),
        )


def monomials(l_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian powers and multinomial weights of Eq. EAD-1.

    Returns
    -------
    powers
        (M, 3) int: every (l_x, l_y, l_z) with l_x + l_y + l_z ≤ l_max.
    coef
        (l_max + 1, M): ``coef[l, m] = l!/(l_x! l_y! l_z!)`` where monomial m has order l, else 0.
    """
    powers = [
        (lx, ly, l - lx - ly)
        for l in range(l_max + 1)  # noqa: E741 (angular momentum l)
        for lx in range(l, -1, -1)
        for ly in range(l - lx, -1, -1)
    ]
    coef = np.zeros((l_max + 1, len(powers)))
    for m, (lx, ly, lz) in enumerate(powers):
        order = lx + ly + lz
        coef[order, m] = math.factorial(order) / (
            math.factorial(lx) * math.factorial(ly) * math.factorial(lz)
        )
    return np.asarray(powers, np.int32), coef


def image_offsets(lattice: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer lattice translations n that hold every image within ``cutoff`` of an atom.

    Pair vectors are formed from minimum-image fractional differences Δf ∈ [−½, ½]³ (see
    :func:`ead_per_atom`), so an image n + Δf lies at least d_k |n_k + Δf_k| away along the
    reciprocal direction k, with d_k = 1/|(L⁻¹)_{:,k}| the spacing of the lattice planes.
    Hence |n_k| ≤ ⌈r_c/d_k + ½⌉ − 1 suffices, whatever the skew of the cell. Translations whose
    whole parallelepiped {(n + Δf) L} lies beyond r_c (|nL| − ½(|a|+|b|+|c|) ≥ r_c) are dropped.

    Parameters
    ----------
    lattice
        (3, 3) matrix, lattice vectors as rows (Å).
    cutoff
        r_c in Å.

    Returns
    -------
    (K, 3) float array of translations n (integers), the zero vector first.

    Raises
    ------
    ValueError
        A degenerate cell (plane spacing below r_c / 24).
    """
    lattice = np.asarray(lattice, np.float64)
    assert lattice.shape == (3, 3), lattice.shape
    recip_norms = np.linalg.norm(np.linalg.inv(lattice), axis=0)  # 1/d_k
    n = np.maximum(np.ceil(cutoff * recip_norms + 0.5).astype(int) - 1, 0)
    if not np.isfinite(recip_norms).all() or n.max() > _MAX_IMAGES:
        raise ValueError(f"cell too thin for cutoff {cutoff} Å (image range {n.tolist()})")
    grid = np.stack(
        np.meshgrid(*(np.arange(-k, k + 1) for k in n), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    half_diag = 0.5 * np.linalg.norm(lattice, axis=1).sum()
    grid = grid[np.linalg.norm(grid @ lattice, axis=1) - half_diag < cutoff]
    order = np.argsort(np.abs(grid).sum(axis=1), kind="stable")
    return grid[order].astype(np.float32)


def pad_offsets(offsets: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (K, 3) translations to (size, 3) with zeros; return them and a (size,) mask."""
    k = len(offsets)
    if k > size:
        raise ValueError(f"{k} lattice translations do not fit the padded size {size}")
    out = np.zeros((size, 3), np.float32)
    out[:k] = offsets
    mask = np.zeros(size, bool)
    mask[:k] = True
    return out, mask


def _pair_geometry(
    positions: jax.Array,
    lattice: jax.Array,
    atom_mask: jax.Array,
    offsets: jax.Array,
    offset_mask: jax.Array,
    cutoff: float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Unit vectors (N, N, K, 3), distances (N, N, K) and the in-cutoff pair mask."""
    n = positions.shape[0]
    frac = positions @ jnp.linalg.inv(lattice)
    dfrac = frac[None, :, :] - frac[:, None, :]  # (N, N, 3), i -> j
    dfrac = dfrac - jax.lax.stop_gradient(jnp.round(dfrac))  # minimum image: Δf ∈ [−½, ½]
    vec = (dfrac[:, :, None, :] + offsets[None, None, :, :]) @ lattice  # (N, N, K, 3)
    r2 = jnp.sum(vec * vec, axis=-1)
    is_zero_shift = jnp.all(offsets == 0.0, axis=-1)
    self_pair = jnp.eye(n, dtype=bool)[:, :, None] & is_zero_shift[None, None, :]
    pair = (
        atom_mask[:, None, None]
        & atom_mask[None, :, None]
        & offset_mask[None, None, :]
        & ~self_pair
    )
    r = jnp.sqrt(jnp.where(pair, r2, 1.0))  # safe sqrt: no NaN gradients from masked pairs
    pair = pair & (r < cutoff)
    unit = vec / r[..., None]
    return unit, r, pair


def ead_per_atom(
    positions: jax.Array,
    lattice: jax.Array,
    weights: jax.Array,
    atom_mask: jax.Array,
    offsets: jax.Array,
    offset_mask: jax.Array,
    params: EADParams,
) -> tuple[jax.Array, jax.Array]:
    """Per-atom EAD (Eq. EAD-1) and the minimum interatomic distance.

    Parameters
    ----------
    positions
        (N, 3) Cartesian positions in Å (need not be wrapped).
    lattice
        (3, 3) lattice vectors as rows, Å.
    weights
        (N,) Z_j (atomic numbers; padding arbitrary).
    atom_mask
        (N,) bool, True for real atoms.
    offsets, offset_mask
        (K, 3) integer translations from :func:`image_offsets` / :func:`pad_offsets`, (K,) mask.
    params
        Descriptor hyperparameters (static).

    Returns
    -------
    rho
        (N, (l_max + 1) · |η| · |r_s|), ordered (l, η, r_s); padded atoms give zeros.
    d_min
        Scalar: the shortest distance between two atoms (any images), Å.
    """
    n = positions.shape[0]
    assert positions.shape == (n, 3) and lattice.shape == (3, 3), (positions.shape, lattice.shape)
    assert weights.shape == atom_mask.shape == (n,), (weights.shape, atom_mask.shape)
    unit, r, pair = _pair_geometry(
        positions, lattice, atom_mask, offsets, offset_mask, params.cutoff
    )
    fc = 0.5 * (jnp.cos(jnp.pi * r / params.cutoff) + 1.0)  # Eq. EAD-2
    w = jnp.where(pair, weights[None, :, None] * fc, 0.0)  # (N, N, K)
    etas = jnp.asarray(params.etas, jnp.float32)
    rs = jnp.asarray(params.r_s, jnp.float32)
    gauss = jnp.exp(-etas[:, None] * (r[..., None, None] - rs[None, :]) ** 2)  # (N,N,K,E,S)
    gauss = gauss.reshape(*r.shape, params.n_radial)
    powers, coef = monomials(params.l_max)
    mono = jnp.stack(
        [
            unit[..., 0] ** int(p[0]) * unit[..., 1] ** int(p[1]) * unit[..., 2] ** int(p[2])
            for p in powers
        ],
        axis=-1,
    )  # (N, N, K, M)
    radial = (w[..., None] * gauss).reshape(n, -1, params.n_radial)  # (N, N·K, R)
    s = jnp.einsum("ipr,ipm->imr", radial, mono.reshape(n, -1, mono.shape[-1]))  # Eq. EAD-1
    rho = jnp.einsum("lm,imr->ilr", jnp.asarray(coef, jnp.float32), s * s)
    rho = rho.reshape(n, params.n_features) * atom_mask[:, None]
    d_min = jnp.min(jnp.where(pair, r, _BIG))
    return rho, d_min


def pooled_ead(
    positions: jax.Array,
    lattice: jax.Array,
    weights: jax.Array,
    atom_mask: jax.Array,
    offsets: jax.Array,
    offset_mask: jax.Array,
    params: EADParams,
) -> jax.Array:
    """Structure descriptor of Eq. EAD-3: [max_i ρ_i ; min_i ρ_i ; d_min], shape (2F + 1,).

    Permutation invariant (max/min over atoms), translation and rotation invariant (ρ is),
    and independent of the periodic image each atom is written in (minimum-image differences).
    If no pair lies within the cutoff, d_min is reported as the cutoff.
    """
    rho, d_min = ead_per_atom(positions, lattice, weights, atom_mask, offsets, offset_mask, params)
    m = atom_mask[:, None]
    hi = jnp.max(jnp.where(m, rho, -_BIG), axis=0)
    lo = jnp.min(jnp.where(m, rho, _BIG), axis=0)
    d_min = jnp.minimum(d_min, params.cutoff)
    return jnp.concatenate([hi, lo, d_min[None]])
