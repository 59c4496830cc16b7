"""UniMat crystal generator (Yang et al. 2023) in JAX/Flax: ``load_generator`` and friends.

Heavy modules (JAX, Flax) load lazily, so ``import genflow.model`` stays cheap for the CLI.

>>> from genflow.model import load_generator  # doctest: +SKIP
>>> gen = load_generator()  # the bundled Perov-5 checkpoint
>>> gen.sample(2, elements="Ba Ti O", n_atoms=5)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genflow.model.generator import BUNDLED_CHECKPOINT, Generator, load_generator

__all__ = ["BUNDLED_CHECKPOINT", "Generator", "load_generator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from genflow.model import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'genflow.model' has no attribute {name!r}")
