"""Shared StructRepDiff hyperparameters (Sinha, Jia & Fung 2024) and the ``runlocal``/``tiny``
shrinking options; the dataset configs only set the data source."""

from __future__ import annotations

import ml_collections

from genflow.model.configs.common import (
    apply_overrides,
    cpu_optim,
    optim_block,
    parse_run_options,
    tiny_schedule,
    train_block,
)

__all__ = ["structrepdiff_config"]


def structrepdiff_config(source: str, arg: str | None) -> ml_collections.ConfigDict:
    """Config for ``source``; ``arg`` options: ``runlocal``, ``tiny``, ``steps=N``, ``batch=N``."""
    a = parse_run_options(arg)
    c = ml_collections.ConfigDict()
    c.model_name = "structrepdiff"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = source  # bundled name or a path (model/data.py)
    c.data.limit = 0  # rows per file (0 = all)

    c.ead = ml_collections.ConfigDict()  # Eq. EAD-1 (model/structrepdiff/ead.py)
    c.ead.cutoff = 5.0
    c.ead.etas = (0.5, 2.0, 8.0)
    c.ead.r_s = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    c.ead.l_max = 2

    c.model = ml_collections.ConfigDict()  # UNet1D
    c.model.dim = 64
    c.model.dim_mults = (1, 2, 4, 8)
    c.model.heads = 4
    c.model.dim_head = 32
    c.model.groups = 8

    c.diffusion = ml_collections.ConfigDict()  # DDPM: cosine schedule, 2000 steps, ε-prediction
    c.diffusion.schedule = "cosine"
    c.diffusion.logsnr_min = -20.0
    c.diffusion.logsnr_max = 20.0
    c.diffusion.num_steps = 2000
    c.diffusion.gamma = 0.1
    c.diffusion.clip = 10.0  # clip x̂ (standardised R) to ±clip while sampling

    c.optim = optim_block(ema_decay=0.995)
    c.train = train_block(batch_size=64, total_steps=100_000)

    c.recon = ml_collections.ConfigDict()  # basin hopping (model/structrepdiff/reconstruct.py)
    c.recon.trials = 6
    c.recon.hops = 7
    c.recon.iters = 300
    c.recon.lr = 0.05
    c.recon.hop = 1.0

    if a.runlocal:  # CPU: a small net for tens of minutes
        c.model.dim = 16
        c.model.dim_mults = (1, 2, 4)
        c.model.heads = 2
        c.model.dim_head = 16
        cpu_optim(c)
        c.train.batch_size = 64
        c.train.total_steps = 4000
        c.train.log_every = 50
        c.train.ckpt_every = 500
    if a.tiny:  # tests
        c.data.limit = 16
        c.model.dim = 8
        c.model.dim_mults = (1, 2)
        c.model.heads = 1
        c.model.dim_head = 8
        c.model.groups = 4
        tiny_schedule(c, total_steps=4)
        c.recon.trials = 2
        c.recon.hops = 2
        c.recon.iters = 20
    apply_overrides(c, a)
    return c
