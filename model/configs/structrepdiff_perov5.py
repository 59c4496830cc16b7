"""StructRepDiff on Perov-5 (bundled splits, ``model/data/perov_5``).

Options: ``runlocal`` (CPU variant), ``tiny`` (tests), ``steps=N``, ``batch=N``.
"""

from __future__ import annotations

import ml_collections

from genflow.model.configs.structrepdiff_common import structrepdiff_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Perov-5 config (see :func:`structrepdiff_config` for the options)."""
    return structrepdiff_config("perov_5", arg)
