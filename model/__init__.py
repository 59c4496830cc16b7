"""Crystal generators in JAX/Flax (UniMat, StructRepDiff) and a random search: ``load_generator``.

Heavy modules (JAX, Flax) load lazily, so ``import genflow.model`` stays cheap for the CLI.

>>> from genflow.model import load_generator  # doctest: +SKIP
>>> gen = load_generator()  # the bundled Perov-5 checkpoint
>>> gen.sample(2, elements="Ba Ti O", n_atoms=5)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genflow.model.kinds import load_generator
    from genflow.model.registry import BUNDLED_CHECKPOINT

__all__ = ["BUNDLED_CHECKPOINT", "load_generator"]


def __getattr__(name: str) -> Any:
    if name == "load_generator":
        from genflow.model.kinds import load_generator

        return load_generator
    if name == "BUNDLED_CHECKPOINT":
        from genflow.model.registry import BUNDLED_CHECKPOINT

        return BUNDLED_CHECKPOINT
    raise AttributeError(f"module 'genflow.model' has no attribute {name!r}")
