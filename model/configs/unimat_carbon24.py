"""UniMat on Carbon-24 (carbon allotropes, 6–24 atoms per cell, one element).

Sub-table: ``cropped`` (one element, so H = W = 1) and L = 24, the largest cell: the tensor is a
column of 24 slots for C. Data: the bundled CDVAE Carbon-24 val+test splits (the train split
is not available offline). No auxiliary property (the dataset's ``energy_per_atom`` is a total
energy at 10 GPa, not a formation energy). Options: ``runlocal`` (CPU size), ``tiny`` (tests),
``steps=N``, ``batch=N``.
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
    """Carbon-24 config (paper defaults unless an option shrinks it)."""
    c, a = unimat_config(
        arg, source="carbon_24", max_atoms=24, table_layout="cropped", aux_properties=()
    )
    c.train.batch_size = 128
    c.train.total_steps = 200_000
    c.cond.p_uncond = 0.5  # one element: "types" says nothing, the atom count is the condition

    if a.runlocal:  # CPU: small net, a few thousand steps
        unimat_runlocal(c, total_steps=6000, log_every=25, ckpt_every=200)
    if a.tiny:
        unimat_tiny(c)
    apply_overrides(c, a)
    return c
