"""UniMat on MP-20 (≤ 20 atoms, 1–6 elements): the paper's large config on the full table.

Full 9×18 periodic table, L = 8 (rows with more than 8 atoms of one element are skipped and
reported). Data: the bundled MP-20 subsets (pilot train/val/test and the binary+ternary val
split). Options: ``runlocal`` (CPU size), ``tiny`` (tests), ``steps=N``, ``batch=N``.
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
    """MP-20 config (paper defaults unless an option shrinks it)."""
    c, a = unimat_config(
        arg,
        source="mp_20",
        max_atoms=8,
        table_layout="periodic",
        aux_properties=("formation_energy_per_atom", "band_gap"),
    )

    if a.runlocal:  # CPU: the Perov-5 CPU net on the full table; checkpoints often (slow steps)
        unimat_runlocal(c, total_steps=5000, log_every=10, ckpt_every=50)
    if a.tiny:
        unimat_tiny(c, channel_mults=(1, 2), attn_levels=(1,))
    apply_overrides(c, a)
    return c
