"""UniMat on Perov-5 (5-atom perovskites, 56 elements).

Sub-table: ``cropped`` (the 6×17 rows/groups that hold Perov-5 elements, periodic neighbours
kept), L = 3 (the X3 site). Options: ``runlocal`` is the CPU variant the bundled checkpoint
was trained with; ``tiny`` is the CI/test size. Data: the bundled CDVAE Perov-5 val+test
splits (the train split is not available offline).
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.common import base_config, parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Perov-5 config; ``arg`` options: ``runlocal``, ``tiny``, ``steps=N``, ``batch=N``."""
    a = parse_arg(arg, runlocal=False, tiny=False, steps=0, batch=0)
    c = base_config()
    c.data.source = "perov_5"
    c.data.max_atoms = 3
    c.data.table_layout = "cropped"
    c.data.aux_properties = ("heat_ref",)  # formation energy target (eV/atom)
    c.train.batch_size = 128
    c.train.total_steps = 200_000

    if a.runlocal:  # CPU: small net, a few thousand steps; faster lr, shorter EMA warm-up
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
        # unconditional sampling is the first thing a user tries: train it 3x as often
        c.cond.p_uncond = 0.3
        c.cond.p_types = 0.2
    if a.tiny:  # tests: compiles in seconds, reads 32 rows per split file
        c.data.limit = 32
        c.model.base_channels = 8
        c.model.channel_mults = (1,)  # one level + attention middle block: compiles fast
        c.model.num_blocks = 1
        c.model.attn_levels = ()
        c.model.head_dim = 8
        c.model.dropout = 0.1
        c.optim.lr = 1e-3
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
