"""Pieces shared by the model configs: option parsing and the paper's default hyperparameters."""

from __future__ import annotations

from typing import Any

import ml_collections

__all__ = ["base_config", "parse_arg"]


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """Parse ``"flag,key=value"`` into a ConfigDict over ``defaults`` (big_vision style).

    A bare ``flag`` sets a boolean default to True; ``key=value`` casts to the default's type.

    Raises
    ------
    ValueError
        An option that has no default.
    """
    out = ml_collections.ConfigDict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in defaults:
            raise ValueError(f"unknown config option {key!r}; known: {sorted(defaults)}")
        if not eq:
            out[key] = True
        elif isinstance(defaults[key], bool):
            out[key] = value.lower() in ("1", "true", "yes")
        else:
            out[key] = type(defaults[key])(value)
    return out


def base_config() -> ml_collections.ConfigDict:
    """The paper's hyperparameters (Yang et al. 2023, Appendix 6); datasets override data.*."""
    c = ml_collections.ConfigDict()
    c.model_name = "unimat"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = "perov_5"  # bundled name (perov_5, mp_20, carbon_24[:split]) or a path
    c.data.limit = 0  # read at most this many rows per file (0 = all); tests use a few
    c.data.max_atoms = 8  # L
    c.data.table_layout = "periodic"  # periodic (9x18) | cropped | compact sub-table
    c.data.aux_properties = ()  # CSV columns used as classifier-free-guidance properties
    c.data.skip_too_large = True  # rows with more than L atoms of an element are reported, skipped

    c.model = ml_collections.ConfigDict()
    c.model.base_channels = 256
    c.model.channel_mults = (1, 2, 4)
    c.model.num_blocks = 3
    c.model.attn_levels = (1, 2)
    c.model.head_dim = 64
    c.model.dropout = 0.1

    c.diffusion = ml_collections.ConfigDict()
    c.diffusion.schedule = "cosine"
    # v-prediction (Salimans & Ho 2022), not the paper's ε: with ε the sampler's x̂ is clipped
    # noise in the noisy half of the run, biased off the null point −1 (diffusion.py docstring).
    c.diffusion.parameterization = "v"
    c.diffusion.logsnr_min = -20.0
    c.diffusion.logsnr_max = 20.0
    c.diffusion.num_steps = 256
    c.diffusion.gamma = 0.1  # log-variance interpolation between the two DDPM variances
    c.diffusion.lattice_weight = 1.0  # weight of the lattice-ε MSE against the coordinate MSE
    c.diffusion.guidance = 0.0  # classifier-free guidance ω at sampling time (Eq. 2)

    c.cond = ml_collections.ConfigDict()
    c.cond.p_uncond = 0.1  # drop composition entirely
    c.cond.p_types = 0.3  # keep only the element types
    c.cond.p_aux_drop = 0.1  # property dropout for classifier-free guidance

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-4
    c.optim.b1 = 0.9
    c.optim.b2 = 0.99
    c.optim.grad_clip = 0.0  # off: the paper uses plain Adam
    c.optim.ema_decay = 0.9999

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 256
    c.train.total_steps = 500_000
    c.train.log_every = 100
    c.train.ckpt_every = 5_000
    c.train.keep_ckpts = 3
    c.train.augment = True  # random atom order along L + random periodic translation
    return c
