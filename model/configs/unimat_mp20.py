"""UniMat on MP-20 (≤ 20 atoms, 1–6 elements): the paper's large config on the full table.

Full 9×18 periodic table, L = 8 (rows with more than 8 atoms of one element are skipped and
reported). Data: the bundled MP-20 subsets (pilot train/val/test and the binary+ternary val
split). Options: ``runlocal`` (CPU size), ``tiny`` (tests), ``steps=N``, ``batch=N``.
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.common import base_config, parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """MP-20 config (paper defaults unless an option shrinks it)."""
    a = parse_arg(arg, runlocal=False, tiny=False, steps=0, batch=0)
    c = base_config()
    c.data.source = "mp_20"
    c.data.max_atoms = 8
    c.data.table_layout = "periodic"
    c.data.aux_properties = ("formation_energy_per_atom", "band_gap")

    if a.runlocal:  # CPU: the Perov-5 CPU net on the full table; checkpoints often (slow steps)
        c.model.base_channels = 16
        c.model.channel_mults = (1, 2)
        c.model.num_blocks = 1
        c.model.attn_levels = (1,)
        c.model.head_dim = 16
        c.model.dropout = 0.0
        c.optim.lr = 1e-3
        c.optim.grad_clip = 1.0
        c.train.batch_size = 32
        c.train.total_steps = 5000
        c.train.log_every = 10
        c.train.ckpt_every = 50
    if a.tiny:
        c.data.limit = 32
        c.model.base_channels = 8
        c.model.channel_mults = (1, 2)
        c.model.num_blocks = 1
        c.model.attn_levels = (1,)
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
