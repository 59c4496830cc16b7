"""Model configs: ``get_config(arg)`` returns an ``ml_collections.ConfigDict``.

``arg`` is ``NAME[:OPTIONS]`` for a module in this package (``unimat_perov5``,
``unimat_carbon24``, ``unimat_mp20``; ``perov5``/``carbon24``/``mp20`` also work;
``structrepdiff-perov5``, ``-carbon24``, ``-mp20``) or ``PATH.py[:OPTIONS]`` for a file
defining ``get_config(arg)``. OPTIONS follow big_vision: comma-separated flags and
``key=value`` pairs, e.g. ``perov5:runlocal`` (the CPU variant the bundled checkpoint was
trained with).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import ml_collections

__all__ = ["CONFIGS", "get_config"]

CONFIGS = {
    "unimat_perov5": "genflow.model.configs.unimat_perov5",
    "perov5": "genflow.model.configs.unimat_perov5",
    "unimat_mp20": "genflow.model.configs.unimat_mp20",
    "mp20": "genflow.model.configs.unimat_mp20",
    "unimat_carbon24": "genflow.model.configs.unimat_carbon24",
    "carbon24": "genflow.model.configs.unimat_carbon24",
}
# StructRepDiff: ``structrepdiff-perov5`` (CLI spelling) or ``structrepdiff_perov5``.
for _ds in ("perov5", "carbon24", "mp20"):
    CONFIGS[f"structrepdiff_{_ds}"] = f"genflow.model.configs.structrepdiff_{_ds}"
    CONFIGS[f"structrepdiff-{_ds}"] = f"genflow.model.configs.structrepdiff_{_ds}"


def get_config(arg: str) -> ml_collections.ConfigDict:
    """Resolve ``NAME[:OPTIONS]`` or ``PATH.py[:OPTIONS]`` to a ConfigDict.

    Raises
    ------
    ValueError
        Unknown config name, or a path that does not exist or lacks ``get_config``.
    """
    name, _, options = arg.partition(":")
    if name.endswith(".py"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"_genflow_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        if not hasattr(module, "get_config"):
            raise ValueError(f"config file {path} defines no get_config(arg)")
    elif name in CONFIGS:
        module = importlib.import_module(CONFIGS[name])
    else:
        raise ValueError(f"unknown model config {name!r}; known: {sorted(CONFIGS)} or a .py path")
    config = module.get_config(options or None)
    config.config_name = arg
    return config
