"""Generator kinds: one name → one sampler with ``provenance`` and ``sample_rows``.

A campaign (``generator.kind`` in a spec) and ``genflow sample --generator`` pick a generator
by kind:

* ``unimat`` / ``structrepdiff``: a checkpoint (bundled name from :data:`CHECKPOINTS` or a
  directory); :func:`genflow.model.load_generator` dispatches on its ``meta.json``.
* ``random``: the AIRSS-style random structure search (:mod:`genflow.model.random_search`).

Every generator answers ``sample_rows(n, composition=…, seed=…, **options)`` with ``n``
:class:`SampleRow` s: a structure, or the reason the sample failed (it did not decode,
reconstruct or place), so one failed sample never hides the rest. This module imports no JAX:
the spec loader checks checkpoints with :func:`checkpoint_model_name`.

>>> checkpoint_model_name("structrepdiff-perov5")
'structrepdiff'
>>> checkpoint_kind_error("unimat", "structrepdiff-perov5")
"checkpoint 'structrepdiff-perov5' is a structrepdiff checkpoint, not unimat"
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "BUNDLED_CHECKPOINT",
    "CHECKPOINTS",
    "CHECKPOINT_KINDS",
    "GENERATOR_KINDS",
    "SampleRow",
    "checkpoint_kind_error",
    "checkpoint_model_name",
    "make_generator",
    "resolve_checkpoint",
]

_DIR = Path(__file__).parent / "checkpoints"
BUNDLED_CHECKPOINT = _DIR / "perov5_runlocal"
#: Bundled checkpoints by name (``--checkpoint structrepdiff-perov5``).
CHECKPOINTS = {
    "unimat-perov5": BUNDLED_CHECKPOINT,
    "structrepdiff-perov5": _DIR / "structrepdiff_perov5_runlocal",
}
#: Kinds that sample a checkpoint, and the default checkpoint of each.
CHECKPOINT_KINDS = {"unimat": "unimat-perov5", "structrepdiff": "structrepdiff-perov5"}
#: Every generator kind (``structures`` imports files instead: genflow.workflows.generate).
GENERATOR_KINDS = (*CHECKPOINT_KINDS, "random")


@dataclass(frozen=True)
class SampleRow:
    """One sample: its structure, or ``error`` saying why there is none."""

    index: int
    structure: Structure | None = None
    error: str | None = None
    label: str | None = field(default=None, compare=False)


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    """Directory of a checkpoint: ``None`` → bundled UniMat, a bundled name, or a path."""
    if checkpoint is None:
        return BUNDLED_CHECKPOINT
    root = Path(checkpoint).expanduser()
    if not root.exists() and str(checkpoint) in CHECKPOINTS:
        return CHECKPOINTS[str(checkpoint)]
    return root


def checkpoint_model_name(checkpoint: str | Path | None) -> str | None:
    """``meta.json``'s ``model_name`` (``"unimat"`` when unset); None: no readable meta.json."""
    meta = resolve_checkpoint(checkpoint) / "meta.json"
    try:
        return json.loads(meta.read_text()).get("model_name", "unimat")
    except (OSError, ValueError):
        return None


def checkpoint_kind_error(kind: str, checkpoint: str | Path | None) -> str | None:
    """Why ``checkpoint`` cannot serve ``kind`` (None: it can, or it cannot be read yet)."""
    if checkpoint is None:
        return None
    model = checkpoint_model_name(checkpoint)
    if model is None:
        name = str(checkpoint)
        bundled = next((k for k, v in CHECKPOINT_KINDS.items() if name.startswith(f"{k}-")), None)
        model = bundled if name not in CHECKPOINTS else checkpoint_model_name(CHECKPOINTS[name])
    if model is not None and model != kind:
        return f"checkpoint {str(checkpoint)!r} is a {model} checkpoint, not {kind}"
    return None


class _WithOptions:
    """A checkpoint generator with fixed sampling options (``num_steps``, ``recon``, …)."""

    def __init__(self, generator: Any, options: dict[str, Any]) -> None:
        self.generator, self.options = generator, dict(options)

    @property
    def provenance(self) -> dict[str, Any]:
        prov = dict(self.generator.provenance)
        if self.options:
            prov["sample_options"] = dict(self.options)
        return prov

    def sample_rows(self, n: int, **kwargs: Any) -> list[SampleRow]:
        return self.generator.sample_rows(n, **self.options, **kwargs)


def make_generator(
    kind: str = "unimat", checkpoint: str | Path | None = None, options: dict | None = None
) -> Any:
    """The generator of ``kind``, its options fixed; ``provenance`` records them.

    Parameters
    ----------
    kind
        ``unimat``, ``structrepdiff`` or ``random`` (:data:`GENERATOR_KINDS`).
    checkpoint
        Checkpoint kinds only: bundled name or directory (None: the kind's bundled one).
    options
        ``unimat``: ``num_steps``; ``structrepdiff``: ``num_steps`` and ``recon`` (a dict of
        :class:`~genflow.model.structrepdiff.ReconSettings` fields); ``random``: keyword
        arguments of :class:`~genflow.model.random_search.RandomSearchGenerator`.

    Raises
    ------
    ValueError
        Unknown kind, or a checkpoint of another model.
    """
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if kind == "random":
        if checkpoint is not None:
            raise ValueError("generator kind 'random' takes no checkpoint")
        from genflow.model.random_search import RandomSearchGenerator

        return RandomSearchGenerator(**options)
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"unknown generator kind {kind!r}; known: {', '.join(GENERATOR_KINDS)}")
    checkpoint = checkpoint if checkpoint is not None else CHECKPOINT_KINDS[kind]
    if err := checkpoint_kind_error(kind, checkpoint):
        raise ValueError(err)
    from genflow.model.generator import load_generator

    return _WithOptions(load_generator(checkpoint), options)
