"""What every checkpoint generator shares: loading its parameters, provenance, ``sample``.

UniMat's :class:`~genflow.model.unimat.generator.Generator` and StructRepDiff's
:class:`~genflow.model.structrepdiff.generator.StructRepDiffGenerator` subclass
:class:`CheckpointGenerator`; :func:`genflow.model.kinds.load_generator` builds them from a
checkpoint directory (:mod:`genflow.model.registry`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from pymatgen.core import Structure

from genflow.model.rows import SampleRow, structures_or_raise

__all__ = ["CheckpointGenerator"]


class CheckpointGenerator:
    """A trained checkpoint ready to sample; subclasses define ``elements`` and ``sample_rows``.

    Parameters
    ----------
    params
        The EMA parameters (a pytree of arrays).
    meta
        The checkpoint's ``meta.json``.
    path, checkpoint_hash, step
        Where it was loaded from, its content hash
        (:func:`~genflow.model.registry.checkpoint_files_hash`) and training step.
    """

    max_atoms: int

    def __init__(
        self, params: Any, meta: dict, *, path: Path, checkpoint_hash: str, step: int
    ) -> None:
        self.params = jax.tree.map(jnp.asarray, params)
        self.meta = meta
        self.config = ml_collections.ConfigDict(meta["config"])
        self.path, self.checkpoint_hash, self.step = path, checkpoint_hash, step

    @property
    def model_name(self) -> str:
        """``meta.json``'s ``model_name`` (``"unimat"`` for checkpoints that predate it)."""
        return self.meta.get("model_name", "unimat")

    @property
    def elements(self) -> list[str]:
        """The element symbols the model can place."""
        raise NotImplementedError

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced the samples: model name, checkpoint path, sha256, step, config."""
        return {
            "model_name": self.model_name,
            "checkpoint": str(self.path),
            "checkpoint_hash": self.checkpoint_hash,
            "step": self.step,
            "config": self.meta["config"],
            "config_name": self.meta["config"].get("config_name"),
            "elements": self.elements,
            "max_atoms": self.max_atoms,
            "jax_version": jax.__version__,
        }

    def sample_rows(self, n: int, **kwargs: Any) -> list[SampleRow]:
        """``n`` rows, one per sample: a structure or why there is none."""
        raise NotImplementedError

    def sample(self, n: int, **kwargs: Any) -> list[Structure]:
        """Draw ``n`` crystals (:meth:`sample_rows`'s keywords); a failed sample raises."""
        return structures_or_raise(self.sample_rows(n, **kwargs))

    def stamped_row(
        self, structure: Structure, *, seed: int, index: int, label: str | None, **extra: Any
    ) -> SampleRow:
        """``structure`` as sample ``index``'s row, its ``properties`` recording generator,
        checkpoint hash, seed, index, conditioning (and ``extra``)."""
        structure.properties.update(
            generator=self.model_name,
            checkpoint_hash=self.checkpoint_hash,
            seed=seed,
            index=index,
            conditioning=label,
            **extra,
        )
        return SampleRow(index, structure, None, label)
