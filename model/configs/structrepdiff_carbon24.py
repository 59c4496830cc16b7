"""StructRepDiff on Carbon-24 (bundled splits, ``model/data/carbon_24``).

Options: ``runlocal`` (CPU variant), ``tiny`` (tests), ``steps=N``, ``batch=N``.
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.structrepdiff_common import structrepdiff_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Carbon-24 config (see :func:`structrepdiff_config` for the options)."""
    return structrepdiff_config("carbon_24", arg)
