"""UniMat on Perov-5 (5-atom perovskites, 56 elements).

Sub-table: ``cropped`` (the 6×17 rows/groups that hold Perov-5 elements, periodic neighbours
kept), L = 3 (the X3 site). Options: ``runlocal`` is the CPU variant the bundled checkpoint
was trained with; ``tiny`` is the CI/test size. Data: the bundled CDVAE Perov-5 val+test
splits (the train split is not available offline).
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.common import (
    apply_overrides,
    unimat_config,
    unimat_runlocal,
    unimat_tiny,
)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Perov-5 config; ``arg`` options: ``runlocal``, ``tiny``, ``steps=N``, ``batch=N``."""
    c, a = unimat_config(
        arg,
        source="perov_5",
        max_atoms=3,
        table_layout="cropped",
        aux_properties=("heat_ref",),  # formation energy target (eV/atom)
    )
    c.train.batch_size = 128
    c.train.total_steps = 200_000

    if a.runlocal:  # CPU: small net, a few thousand steps; faster lr, shorter EMA warm-up
        unimat_runlocal(c, total_steps=6000, log_every=25, ckpt_every=200)
        # unconditional sampling is the first thing a user tries: train it 3x as often
        c.cond.p_uncond = 0.3
        c.cond.p_types = 0.2
    if a.tiny:  # tests: compiles in seconds, reads 32 rows per split file
        unimat_tiny(c)  # one level + attention middle block: compiles fast
        c.optim.lr = 1e-3
    apply_overrides(c, a)
    return c
