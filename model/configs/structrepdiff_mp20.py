"""StructRepDiff on MP-20 (bundled splits, ``model/data/mp_20``).

Options: ``runlocal`` (CPU variant), ``tiny`` (tests), ``steps=N``, ``batch=N``.
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.structrepdiff_common import structrepdiff_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """MP-20 config (see :func:`structrepdiff_config` for the options)."""
    return structrepdiff_config("mp_20", arg)
