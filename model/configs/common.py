"""Pieces shared by the model configs: option parsing, the blocks both models set the same way,
UniMat's paper defaults and its CPU (``runlocal``) and test (``tiny``) sizes."""

from __future__ import annotations

from typing import Any

import ml_collections

__all__ = [
    "RUN_OPTIONS",
    "apply_overrides",
    "base_config",
    "cpu_optim",
    "optim_block",
    "parse_arg",
    "parse_run_options",
    "tiny_schedule",
    "train_block",
    "unimat_config",
    "unimat_runlocal",
    "unimat_tiny",
]

#: The options every model config takes (``NAME:runlocal``, ``NAME:tiny,steps=N,batch=N``).
RUN_OPTIONS: dict[str, Any] = {"runlocal": False, "tiny": False, "steps": 0, "batch": 0}


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


def parse_run_options(arg: str | None) -> ml_collections.ConfigDict:
    """:func:`parse_arg` over :data:`RUN_OPTIONS`."""
    return parse_arg(arg, **RUN_OPTIONS)


def apply_overrides(c: ml_collections.ConfigDict, a: ml_collections.ConfigDict) -> None:
    """``steps=N`` and ``batch=N`` win over everything a config set."""
    if a.steps:
        c.train.total_steps = a.steps
    if a.batch:
        c.train.batch_size = a.batch


def optim_block(*, ema_decay: float) -> ml_collections.ConfigDict:
    """Plain Adam (lr 1e-4, β = 0.9, 0.99, no clipping) with an EMA of ``ema_decay``."""
    o = ml_collections.ConfigDict()
    o.lr = 1e-4
    o.b1 = 0.9
    o.b2 = 0.99
    o.grad_clip = 0.0  # off: the papers use plain Adam
    o.ema_decay = ema_decay
    return o


def train_block(*, batch_size: int, total_steps: int) -> ml_collections.ConfigDict:
    """Batch size and length of a run; logs every 100 steps, keeps 3 checkpoints 5,000 apart."""
    t = ml_collections.ConfigDict()
    t.batch_size = batch_size
    t.total_steps = total_steps
    t.log_every = 100
    t.ckpt_every = 5_000
    t.keep_ckpts = 3
    return t


def cpu_optim(c: ml_collections.ConfigDict) -> None:
    """CPU runs are short: a 10x larger step, kept stable by clipping."""
    c.optim.lr = 1e-3
    c.optim.grad_clip = 1.0


def tiny_schedule(c: ml_collections.ConfigDict, *, total_steps: int) -> None:
    """Tests: batches of 8, a log line every step, a checkpoint every 2, 8 sampling steps."""
    c.train.batch_size = 8
    c.train.total_steps = total_steps
    c.train.log_every = 1
    c.train.ckpt_every = 2
    c.diffusion.num_steps = 8


def unimat_config(
    arg: str | None,
    *,
    source: str,
    max_atoms: int,
    table_layout: str,
    aux_properties: tuple[str, ...],
) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
    """A UniMat dataset config's start: (:func:`base_config` on ``source``, parsed options).

    UniMat takes one option beyond :data:`RUN_OPTIONS`: ``selfcond`` trains a self-conditioned
    denoiser (``model.self_condition``; :func:`genflow.model.diffusion.self_conditioned`).
    """
    c = base_config()
    c.data.source = source
    c.data.max_atoms = max_atoms
    c.data.table_layout = table_layout
    c.data.aux_properties = aux_properties
    a = parse_arg(arg, **RUN_OPTIONS, selfcond=False)
    c.model.self_condition = a.selfcond
    return c, a


def unimat_runlocal(
    c: ml_collections.ConfigDict, *, total_steps: int, log_every: int, ckpt_every: int
) -> None:
    """UniMat's CPU net (the bundled checkpoints'): 16 channels, two levels, batches of 32."""
    c.model.base_channels = 16
    c.model.channel_mults = (1, 2)
    c.model.num_blocks = 1
    c.model.attn_levels = (1,)
    c.model.head_dim = 16
    c.model.dropout = 0.0
    cpu_optim(c)
    c.train.batch_size = 32
    c.train.total_steps = total_steps
    c.train.log_every = log_every
    c.train.ckpt_every = ckpt_every


def unimat_tiny(
    c: ml_collections.ConfigDict,
    *,
    channel_mults: tuple[int, ...] = (1,),
    attn_levels: tuple[int, ...] = (),
) -> None:
    """UniMat at test size: 8 channels, 32 rows per split file, 10 steps."""
    c.data.limit = 32
    c.model.base_channels = 8
    c.model.channel_mults = channel_mults
    c.model.num_blocks = 1
    c.model.attn_levels = attn_levels
    c.model.head_dim = 8
    tiny_schedule(c, total_steps=10)


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
    c.model.self_condition = False  # previous x̂ as extra input (Chen et al. 2022); issue 24

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
    # loss weight of occupied coordinate slots against null ones (1 = plain mean). Not a fix for
    # atom counts (issue 24): 10 made an overfit Perov-5 run emit ~10 sites instead of 5.
    c.diffusion.atom_weight = 1.0
    c.diffusion.guidance = 0.0  # classifier-free guidance ω at sampling time (Eq. 2)

    c.cond = ml_collections.ConfigDict()
    c.cond.p_uncond = 0.1  # drop composition entirely
    c.cond.p_types = 0.3  # keep only the element types
    c.cond.p_aux_drop = 0.1  # property dropout for classifier-free guidance

    c.optim = optim_block(ema_decay=0.9999)
    c.train = train_block(batch_size=256, total_steps=500_000)
    c.train.augment = True  # random atom order along L + random periodic translation
    return c
