"""UniMat on Carbon-24 (carbon allotropes, 6–24 atoms per cell, one element).

Sub-table: ``cropped`` (one element, so H = W = 1) and L = 24, the largest cell: the tensor is a
column of 24 slots for C. Data: the bundled CDVAE Carbon-24 val+test splits (the train split
is not available offline). No auxiliary property (the dataset's ``energy_per_atom`` is a total
energy at 10 GPa, not a formation energy). Options: ``runlocal`` (CPU size), ``tiny`` (tests),
``steps=N``, ``batch=N``.
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.common import base_config, parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Carbon-24 config (paper defaults unless an option shrinks it)."""
    a = parse_arg(arg, runlocal=False, tiny=False, steps=0, batch=0)
    c = base_config()
    c.data.source = "carbon_24"
    c.data.max_atoms = 24
    c.data.table_layout = "cropped"
    c.data.aux_properties = ()
    c.train.batch_size = 128
    c.train.total_steps = 200_000
    c.cond.p_uncond = 0.5  # one element: "types" says nothing, the atom count is the condition

    if a.runlocal:  # CPU: small net, a few thousand steps
        c.model.base_channels = 16
        c.model.channel_mults = (1, 2)
        c.model.num_blocks = 1
        c.model.attn_levels = (1,)
        c.model.head_dim = 16
        c.model.dropout = 0.0
        c.optim.lr = 1e-3
        c.optim.grad_clip = 1.0
        c.train.batch_size = 32
        c.train.total_steps = 6000
        c.train.log_every = 25
        c.train.ckpt_every = 200
    if a.tiny:
        c.data.limit = 32
        c.model.base_channels = 8
        c.model.channel_mults = (1,)
        c.model.num_blocks = 1
        c.model.attn_levels = ()
        c.model.head_dim = 8
        c.train.batch_size = 8
        c.train.total_steps = 10
        c.train.log_every = 1
        c.train.ckpt_every = 2
        c.diffusion.num_steps = 8
    if a.steps:
        c.train.total_steps = a.steps
    if a.batch:
        c.train.batch_size = a.batch
    return c
