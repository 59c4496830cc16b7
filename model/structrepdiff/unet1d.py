"""1D U-Net ε-predictor over the representation vector R (``flax.linen``).

Sinha, Jia & Fung (2024) denoise R with the 1D U-Net of Ho et al.'s DDPM as written for 1D
signals: ResNet blocks of weight-standardised convolutions (Qiao et al. 2019) with GroupNorm and
a time-embedding scale/shift, linear attention (Shen et al. 2021) after every stage, full
attention in the middle, strided-conv downsampling and nearest upsampling with skips.

Design decisions (stated once, here):

* R is one channel of length D; it is zero-padded to a multiple of 2^(stages−1) and the output
  cropped back.
* Entries of R are *different* quantities (EAD blocks, fractions, lattice), while convolutions
  are translation equivariant; a learned per-position embedding is added after the input
  convolution so the network knows which entry it looks at (as UniMat's per-element embedding).
* Time is the log-SNR λ, embedded sinusoidally (shared with UniMat) and by an MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genflow.model.unimat.unet import timestep_embedding

__all__ = ["LinearAttention", "ResnetBlock", "UNet1D", "WSConv1D"]


def _groups(channels: int, target: int) -> int:
    g = min(target, channels)
    while channels % g:
        g -= 1
    return g


class WSConv1D(nn.Module):
    """Weight-standardised 1D convolution: W ← (W − mean) / √(var + ε) per output channel."""

    features: int
    kernel: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.kernel, x.shape[-1], self.features)
        )
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        mean = w.mean(axis=(0, 1), keepdims=True)
        var = w.var(axis=(0, 1), keepdims=True)
        w = (w - mean) * jax.lax.rsqrt(var + 1e-5)
        y = jax.lax.conv_general_dilated(
            x, w, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC")
        )
        return y + b


class ResnetBlock(nn.Module):
    """[WSConv → GroupNorm → scale/shift(t) → SiLU] → [WSConv → GroupNorm → SiLU] + skip."""

    features: int
    groups: int = 8

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array) -> jax.Array:
        scale, shift = jnp.split(nn.Dense(2 * self.features)(nn.silu(emb))[:, None, :], 2, -1)
        g = _groups(self.features, self.groups)
        h = nn.GroupNorm(num_groups=g)(WSConv1D(self.features)(x))
        h = nn.silu(h * (1.0 + scale) + shift)
        h = nn.silu(nn.GroupNorm(num_groups=g)(WSConv1D(self.features)(h)))
        skip = nn.Conv(self.features, (1,))(x) if x.shape[-1] != self.features else x
        return skip + h


class LinearAttention(nn.Module):
    """Pre-norm linear attention with residual: softmax(q) over features, softmax(k) over
    positions, out = (k vᵀ)ᵀ q — O(D) in the sequence length."""

    heads: int = 4
    dim_head: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        h = nn.GroupNorm(num_groups=1)(x)
        qkv = nn.Conv(3 * self.heads * self.dim_head, (1,), use_bias=False)(h)
        q, k, v = (t.reshape(b, n, self.heads, self.dim_head) for t in jnp.split(qkv, 3, -1))
        q = jax.nn.softmax(q, axis=-1) * self.dim_head**-0.5
        k = jax.nn.softmax(k, axis=1)
        context = jnp.einsum("bnhd,bnhe->bhde", k, v)
        out = jnp.einsum("bhde,bnhd->bnhe", context, q).reshape(b, n, -1)
        out = nn.GroupNorm(num_groups=1)(nn.Conv(c, (1,))(out))
        return x + out


class _Attention(nn.Module):
    """Pre-norm full self-attention with residual (middle block)."""

    heads: int
    dim_head: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.GroupNorm(num_groups=1)(x)
        h = nn.MultiHeadDotProductAttention(
            num_heads=self.heads,
            qkv_features=self.heads * self.dim_head,
            out_features=x.shape[-1],
            out_kernel_init=nn.initializers.zeros,
        )(h)
        return x + h


class UNet1D(nn.Module):
    """ε(z, λ) for z of shape (B, D).

    Attributes
    ----------
    dim
        Channels of the first stage.
    dim_mults
        Channel multiplier per stage.
    heads, dim_head
        Attention heads and their width.
    groups
        GroupNorm groups in the ResNet blocks.
    """

    dim: int = 32
    dim_mults: Sequence[int] = (1, 2, 4)
    heads: int = 4
    dim_head: int = 32
    groups: int = 8

    @nn.compact
    def __call__(self, z: jax.Array, logsnr: jax.Array) -> jax.Array:
        b, d = z.shape
        assert logsnr.shape == (b,), (logsnr.shape, b)
        mult = 2 ** (len(self.dim_mults) - 1)
        pad = -d % mult
        x = jnp.pad(z, ((0, 0), (0, pad)))[..., None]  # (B, D', 1)
        x = nn.Conv(self.dim, (7,))(x)
        x = x + self.param("pos_emb", nn.initializers.normal(0.02), (d + pad, self.dim))[None]
        r = x
        emb = timestep_embedding(logsnr, self.dim)
        emb = nn.Dense(4 * self.dim)(emb)
        emb = nn.Dense(4 * self.dim)(nn.gelu(emb))

        skips = []
        chans = [self.dim * m for m in self.dim_mults]
        for i, c in enumerate(chans):
            x = ResnetBlock(c, self.groups)(x, emb)
            skips.append(x)
            x = ResnetBlock(c, self.groups)(x, emb)
            x = LinearAttention(self.heads, self.dim_head)(x)
            skips.append(x)
            if i < len(chans) - 1:
                x = nn.Conv(chans[i + 1], (4,), strides=(2,))(x)

        x = ResnetBlock(chans[-1], self.groups)(x, emb)
        x = _Attention(self.heads, self.dim_head)(x)
        x = ResnetBlock(chans[-1], self.groups)(x, emb)

        for i, c in reversed(list(enumerate(chans))):
            x = ResnetBlock(c, self.groups)(jnp.concatenate([x, skips.pop()], -1), emb)
            x = ResnetBlock(c, self.groups)(jnp.concatenate([x, skips.pop()], -1), emb)
            x = LinearAttention(self.heads, self.dim_head)(x)
            if i > 0:
                x = jnp.repeat(x, 2, axis=1)
                x = nn.Conv(chans[i - 1], (3,))(x)

        x = ResnetBlock(self.dim, self.groups)(jnp.concatenate([x, r], -1), emb)
        out = nn.Conv(1, (1,), kernel_init=nn.initializers.zeros)(x)[..., 0]
        return out[:, :d]
