"""Data-parallel sharding as data (big_vision ``sharding.py`` style), with ``jax.jit``.

One mesh axis ``"data"`` over every device. A *strategy* is a list of ``(regex, rule)`` pairs
matched against each parameter's ``/``-joined path; rules are resolved through
:data:`RULES`. The default strategy replicates every parameter and shards batches along their
leading axis, which is plain data parallelism on 1 CPU, 8 GPUs or a TPU pod slice alike: XLA
inserts the gradient all-reduce because the loss is a mean over a sharded batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "RULES",
    "batch_sharding",
    "make_mesh",
    "replicated",
    "reshard",
    "shard_batch",
    "shardings_for",
]

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D ``("data",)`` mesh over ``devices`` (default: all devices)."""
    devs = np.asarray(jax.devices() if devices is None else list(devices))
    return Mesh(devs, (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Same full array on every device."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the ``data`` axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


RULES: dict[str, Callable[[Mesh, Any], NamedSharding]] = {
    "replicate": lambda mesh, _x: replicated(mesh),
    "data": lambda mesh, _x: batch_sharding(mesh),
}


def _path_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def shardings_for(
    tree: Any, mesh: Mesh, strategy: Sequence[tuple[str, str]] = ((".*", "replicate"),)
) -> Any:
    """Sharding pytree for ``tree``: the first ``(regex, rule)`` whose regex matches wins.

    Raises
    ------
    ValueError
        A leaf that no regex matches, or an unknown rule name.
    """
    for _, rule in strategy:
        if rule not in RULES:
            raise ValueError(f"unknown sharding rule {rule!r}; known: {sorted(RULES)}")

    def pick(path, x):
        name = _path_name(path)
        for pattern, rule in strategy:
            if re.fullmatch(pattern, name):
                return RULES[rule](mesh, x)
        raise ValueError(f"no sharding rule matches parameter {name!r}")

    return jax.tree_util.tree_map_with_path(pick, tree)


def reshard(tree: Any, shardings: Any) -> Any:
    """Put every leaf on its target sharding; a leaf already sharded that way is left as is."""

    def put(x, s):
        if isinstance(x, jax.Array) and x.sharding == s:
            return x  # no copy, no transfer
        return jax.device_put(x, s)

    return jax.tree.map(put, tree, shardings)


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Place a host batch (numpy or jax arrays, batch axis first) split over ``data``.

    Raises
    ------
    ValueError
        The batch size does not divide evenly over the devices.
    """
    n = mesh.devices.size
    for leaf in jax.tree.leaves(batch):
        if leaf.shape[0] % n:
            raise ValueError(f"batch size {leaf.shape[0]} is not divisible by {n} devices")
    return reshard(batch, jax.tree.map(lambda _: batch_sharding(mesh), batch))
