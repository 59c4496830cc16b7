"""3D U-Net denoiser over the UniMat (L, H, W) grid, written with ``flax.linen``.

Yang et al. (2023), §2.2 and Appendix 6: the denoiser is a U-Net whose 2D convolutions are
replaced by 3D convolutions over (L, H, W), with self-attention at selected resolutions.

Design decisions (stated once, here):

* **Flax API.** ``flax.linen`` (stable, plain-pytree params that orbax saves directly).
* **Inputs on the channel axis.** Per cell (l, h, w) the network sees: the noisy coordinates
  (3), the noisy lattice parameters broadcast to every cell (6) — this is how "lattice
  parameters are concatenated with the coordinates" is realised —, the exact-composition
  channel c ∈ R^{L×H×W} (+1 atom, −1 empty, 0 unknown/dropped) and the composition-types
  channel c ∈ R^{H×W} broadcast along L (+1 element present, −1 absent, 0 unknown). Zero
  means "not conditioned", so one network serves unconditional, types- and exact-composition
  sampling.
* **Element identity.** Convolutions are translation equivariant but each (h, w) cell is a
  specific element, so a learned per-cell embedding is added after the input convolution. No
  embedding along L: atom order along L is meaningless (random permutation augmentation).
* **Lattice output.** ε for the 6 lattice numbers is read out from the mean-pooled final
  feature map by a small MLP; ε for coordinates by a 3D convolution.
* **Odd grid sizes.** (L, H, W) is zero-padded up to a multiple of 2^(levels−1) before the
  first convolution and cropped back at the end, so any sub-table shape works.
* **3D convolution as a 2D one.** XLA:CPU lowers a 3D convolution to a slow generic loop
  (1–5 GFLOP/s here, ~5 % of its ``jnp.dot`` peak), but 2D convolutions to its fast
  Eigen kernels. :class:`Conv` therefore stacks the three L-shifted copies of the input on the
  channel axis and runs one 2D (H, W) convolution with the reshaped 3×3×3 kernel: the same
  maths and the same ``kernel``/``bias`` parameters as ``flax.linen.Conv`` (checkpoints are
  interchangeable), 4–9× faster per convolution on CPU.
* **Time and properties.** log-SNR → sinusoidal embedding → MLP; auxiliary properties → MLP,
  replaced by a learned null embedding where ``aux_mask`` is 0 (property dropout for
  classifier-free guidance, Eq. 2). Both are added and injected into every residual block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genflow.model.diffusion import timestep_embedding

__all__ = ["UNet3D"]


class Conv(nn.Module):
    """``flax.linen.Conv`` over (L, H, W) with "SAME" padding, computed as a 2D convolution.

    Same parameter names, shapes and initialisers as ``nn.Conv(features, kernel_size,
    strides)``; the kernel size along L is folded into the input channels (module docstring).
    """

    features: int
    kernel_size: tuple[int, int, int]
    strides: tuple[int, int, int] = (1, 1, 1)
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kd, kh, kw = self.kernel_size
        sd, sh, sw = self.strides
        cin = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kd, kh, kw, cin, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        b, n_l = x.shape[:2]
        ((lo, hi),) = jax.lax.padtype_to_pads((n_l,), (kd,), (sd,), "SAME")
        out_l = -(-n_l // sd)
        xp = jnp.pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)))
        # taps[:, l'] = concat_i x[sd*l' + i - lo] over the kd taps along L
        taps = jnp.concatenate([xp[:, i : i + sd * (out_l - 1) + 1 : sd] for i in range(kd)], -1)
        taps = taps.reshape(b * out_l, *taps.shape[2:])
        k2d = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(kh, kw, kd * cin, self.features)
        y = jax.lax.conv_general_dilated(
            taps, k2d, (sh, sw), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return y.reshape(b, out_l, *y.shape[1:]) + bias


def _groups(channels: int) -> int:
    """GroupNorm groups: up to 32, at least 4 channels per group."""
    for g in (32, 16, 8, 4, 2, 1):
        if channels % g == 0 and channels // g >= 4:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm–swish–conv, + embedding, GroupNorm–swish–dropout–conv, residual."""

    channels: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array, *, train: bool) -> jax.Array:
        h = nn.swish(nn.GroupNorm(num_groups=_groups(x.shape[-1]))(x))
        h = Conv(self.channels, (3, 3, 3))(h)
        h = h + nn.Dense(self.channels)(nn.swish(emb))[:, None, None, None, :]
        h = nn.swish(nn.GroupNorm(num_groups=_groups(self.channels))(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        # Zero-init last conv: each block starts as identity, which trains stably.
        h = Conv(self.channels, (3, 3, 3), kernel_init=nn.initializers.zeros)(h)
        if x.shape[-1] != self.channels:
            x = Conv(self.channels, (1, 1, 1))(x)
        return x + h


class AttnBlock(nn.Module):
    """Multi-head self-attention over all (l, h, w) cells of a resolution."""

    head_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, d1, d2, d3, c = x.shape
        h = nn.GroupNorm(num_groups=_groups(c))(x).reshape(b, d1 * d2 * d3, c)
        heads = max(1, c // self.head_dim)
        h = nn.MultiHeadDotProductAttention(
            num_heads=heads, qkv_features=c, out_kernel_init=nn.initializers.zeros
        )(h)
        return x + h.reshape(x.shape)


class UNet3D(nn.Module):
    """ε-prediction network for the UniMat state ``{"coords", "lattice"}``.

    Attributes
    ----------
    base_channels, channel_mults, num_blocks, attn_levels, head_dim, dropout
        U-Net width; per-level channel multipliers (a level per entry, downsampling by 2
        between levels); residual blocks per level; the level indices (0 = full resolution)
        that get self-attention after every residual block; attention head width; dropout.
    grid_shape
        ``(H, W)`` of the element table (for the per-cell embedding).
    num_aux
        Number of auxiliary properties (0 disables the property embedding).
    self_condition
        Take a previous estimate x̂ of the clean state as 9 more input channels (its
        coordinates, and its lattice broadcast like z's): self-conditioning,
        :func:`genflow.model.diffusion.self_conditioned`. Off for checkpoints without it.
    """

    base_channels: int
    channel_mults: Sequence[int]
    num_blocks: int
    attn_levels: Sequence[int]
    head_dim: int
    dropout: float
    grid_shape: tuple[int, int]
    num_aux: int = 0
    self_condition: bool = False

    @nn.compact
    def __call__(
        self,
        z: dict[str, jax.Array],
        logsnr: jax.Array,
        cond: dict[str, jax.Array],
        x_prev: dict[str, jax.Array] | None = None,
        *,
        train: bool = False,
    ) -> dict[str, jax.Array]:
        """Predict ε.

        Parameters
        ----------
        z
            ``coords`` [B, L, H, W, 3] and ``lattice`` [B, 6] (noisy, normalised).
        logsnr
            [B] log-SNR of each example.
        cond
            ``exact`` [B, L, H, W] and ``types`` [B, H, W] in {−1, 0, +1}; with ``num_aux > 0``
            also ``aux`` [B, num_aux] and ``aux_mask`` [B] (1 = use the properties).
        x_prev
            With ``self_condition``: the previous x̂, shaped like ``z`` (None = zeros, "no
            estimate yet"). Ignored without it.
        train
            Enables dropout (needs a ``"dropout"`` rng).
        """
        coords, lattice = z["coords"], z["lattice"]
        b, n_l, n_h, n_w, _ = coords.shape
        assert (n_h, n_w) == tuple(self.grid_shape), (coords.shape, self.grid_shape)
        assert lattice.shape == (b, 6) and logsnr.shape == (b,), (lattice.shape, logsnr.shape)
        assert cond["exact"].shape == (b, n_l, n_h, n_w), cond["exact"].shape
        assert cond["types"].shape == (b, n_h, n_w), cond["types"].shape
        ch = self.base_channels

        # --- embeddings: time (log-SNR) + auxiliary properties
        emb = timestep_embedding(logsnr, ch)
        emb = nn.Dense(4 * ch)(nn.swish(nn.Dense(4 * ch)(emb)))
        if self.num_aux:
            aux, mask = cond["aux"], cond["aux_mask"].astype(jnp.float32)
            assert aux.shape == (b, self.num_aux) and mask.shape == (b,), (aux.shape, mask.shape)
            a = nn.Dense(4 * ch)(nn.swish(nn.Dense(4 * ch)(aux)))
            null = self.param("aux_null", nn.initializers.normal(0.02), (4 * ch,))
            emb = emb + mask[:, None] * a + (1.0 - mask[:, None]) * null[None]

        # --- input: concatenate everything on the channel axis
        grid = (n_l, n_h, n_w)
        lat = jnp.broadcast_to(lattice[:, None, None, None, :], (b, *grid, 6))
        types = jnp.broadcast_to(cond["types"][:, None, :, :, None], (b, *grid, 1))
        x = jnp.concatenate([coords, lat, cond["exact"][..., None], types], axis=-1)
        if self.self_condition:
            if x_prev is None:
                x_prev = {"coords": jnp.zeros_like(coords), "lattice": jnp.zeros_like(lattice)}
            prev_lat = jnp.broadcast_to(x_prev["lattice"][:, None, None, None, :], (b, *grid, 6))
            x = jnp.concatenate([x, x_prev["coords"], prev_lat], axis=-1)
        factor = 2 ** (len(self.channel_mults) - 1)
        padded = tuple(-(-d // factor) * factor for d in grid)
        x = jnp.pad(x, ((0, 0), *[(0, p - d) for p, d in zip(padded, grid, strict=True)], (0, 0)))
        h = Conv(ch, (3, 3, 3))(x)
        cell = self.param("cell_embedding", nn.initializers.normal(0.02), (n_h, n_w, ch))
        cell = jnp.pad(cell, ((0, padded[1] - n_h), (0, padded[2] - n_w), (0, 0)))
        h = h + cell[None, None]

        # --- down path
        skips = [h]
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_blocks):
                h = ResBlock(ch * mult, self.dropout)(h, emb, train=train)
                if level in self.attn_levels:
                    h = AttnBlock(self.head_dim)(h)
                skips.append(h)
            if level != len(self.channel_mults) - 1:
                h = Conv(ch * mult, (3, 3, 3), strides=(2, 2, 2))(h)
                skips.append(h)

        # --- middle
        top = ch * self.channel_mults[-1]
        h = ResBlock(top, self.dropout)(h, emb, train=train)
        h = AttnBlock(self.head_dim)(h)
        h = ResBlock(top, self.dropout)(h, emb, train=train)

        # --- up path (num_blocks + 1 blocks per level consume every skip)
        for level in reversed(range(len(self.channel_mults))):
            mult = self.channel_mults[level]
            for _ in range(self.num_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = ResBlock(ch * mult, self.dropout)(h, emb, train=train)
                if level in self.attn_levels:
                    h = AttnBlock(self.head_dim)(h)
            if level != 0:
                h = jnp.repeat(jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2), 2, axis=3)
                h = Conv(ch * mult, (3, 3, 3))(h)
        assert not skips

        # --- outputs: crop the padding, coordinate ε by conv, lattice ε by pooled MLP
        h = nn.swish(nn.GroupNorm(num_groups=_groups(h.shape[-1]))(h))
        h = h[:, :n_l, :n_h, :n_w]
        eps_coords = Conv(3, (3, 3, 3), kernel_init=nn.initializers.zeros)(h)
        pooled = jnp.concatenate([h.mean(axis=(1, 2, 3)), emb], axis=-1)
        eps_lattice = nn.Dense(6, kernel_init=nn.initializers.zeros)(
            nn.swish(nn.Dense(2 * ch)(pooled))
        )
        return {"coords": eps_coords, "lattice": eps_lattice}
