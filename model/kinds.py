"""Generator kinds: one name → one sampler with ``provenance`` and ``sample_rows``.

A campaign (``generator.kind`` in a spec) and ``genflow sample --generator`` pick a generator
by kind:

* ``unimat`` / ``structrepdiff``: a checkpoint (bundled name from
  :data:`~genflow.model.registry.CHECKPOINTS` or a directory); :func:`load_generator`
  dispatches on its ``meta.json`` to :mod:`genflow.model.unimat` or
  :mod:`genflow.model.structrepdiff`.
* ``random``: the AIRSS-style random structure search (:mod:`genflow.model.random_search`).

Every generator answers ``sample_rows(n, composition=…, seed=…, **options)`` with ``n``
:class:`~genflow.model.rows.SampleRow` s: a structure, or the reason the sample failed (it did
not decode, reconstruct or place), so one failed sample never hides the rest.

Dispatch goes one way: this module imports the generators (lazily: this module imports no
JAX at import time) and no generator imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genflow.core.progress import stage
from genflow.model.registry import (
    CHECKPOINT_KINDS,
    CHECKPOINTS,
    PARAMS_FILE,
    checkpoint_files_hash,
    checkpoint_kind_error,
    resolve_checkpoint,
    restore_ema,
)
from genflow.model.rows import SampleRow

__all__ = [
    "GENERATOR_KINDS",
    "load_generator",
    "load_structrepdiff",
    "make_generator",
    "sample_structures",
]

#: Every generator kind (``structures`` imports files instead: genflow.workflows.generate).
GENERATOR_KINDS = (*CHECKPOINT_KINDS, "random")
#: Loaded checkpoints by (directory, content hash): compiled samplers are reused in a process.
_CACHE: dict[tuple[Path, str], Any] = {}


def load_generator(checkpoint: str | Path | None = None) -> Any:
    """Load a generator by bundled name (:data:`genflow.model.registry.CHECKPOINTS`: ``perov5``,
    ``structrepdiff-perov5``, ...), by path (exported generator or training workdir), or
    ``None`` for the default (``perov5``). The model is picked by ``meta.json``'s
    ``model_name``: ``"structrepdiff"`` gives a
    :class:`genflow.model.structrepdiff.generator.StructRepDiffGenerator` (same ``sample``
    signature and provenance), anything else a UniMat
    :class:`genflow.model.unimat.generator.Generator`. ``checkpoint_hash`` is
    :func:`~genflow.model.registry.checkpoint_files_hash` of the files loaded.

    Raises
    ------
    ValueError
        An unknown name that is not a path either (the message lists the known names).
    FileNotFoundError
        No ``meta.json`` (not a checkpoint), no parameters next to it, or a registered name
        that is not bundled.
    """
    root = resolve_checkpoint(checkpoint)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"checkpoint {root}: no meta.json (not a genflow checkpoint; bundled names: "
            f"{', '.join(CHECKPOINTS)})"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("model_name") == "structrepdiff":
        from genflow.model.structrepdiff.generator import StructRepDiffGenerator as cls
    else:
        from genflow.model.unimat.generator import Generator as cls
    if (root / PARAMS_FILE).is_file():
        files = [meta_path, root / PARAMS_FILE]
        digest = checkpoint_files_hash(root, files)
        if (root.resolve(), digest) not in _CACHE:  # reuse compiled samplers in one process
            from flax import serialization

            params = serialization.msgpack_restore((root / PARAMS_FILE).read_bytes())
            step = int(meta.get("step", -1))
            _CACHE[(root.resolve(), digest)] = cls(
                params, meta, path=root, checkpoint_hash=digest, step=step
            )
        return _CACHE[(root.resolve(), digest)]
    params, step, files = restore_ema(root)
    files = [meta_path, *files]
    return cls(
        params, meta, path=root, checkpoint_hash=checkpoint_files_hash(root, files), step=step
    )


def load_structrepdiff(checkpoint: str | Path | None = None) -> Any:
    """Load a StructRepDiff checkpoint (exported dir or training workdir, or a bundled name).

    ``None`` means the bundled ``structrepdiff-perov5`` checkpoint.
    """
    from genflow.model.structrepdiff.generator import StructRepDiffGenerator

    gen = load_generator(checkpoint or "structrepdiff-perov5")
    if not isinstance(gen, StructRepDiffGenerator):
        raise ValueError(f"checkpoint {checkpoint} is not a StructRepDiff checkpoint")
    return gen


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
    return _WithOptions(load_generator(checkpoint), options)


def sample_structures(
    generator: str | None,
    checkpoint: str | Path | None,
    n: int,
    *,
    compositions: list[str | None],
    seed: int = 0,
    progress: bool = False,
    **kwargs,
) -> tuple[list, dict]:
    """``n`` structures per composition from a generator kind, and the generator's provenance.

    ``generator`` None picks the model ``checkpoint``'s ``meta.json`` names (UniMat by
    default); ``random`` is the random search (``genflow baseline random`` calls this).
    ``kwargs`` go to ``sample`` (``elements``, ``n_atoms``, ``num_steps``).

    Raises
    ------
    ValueError
        Unknown kind, a checkpoint of another model, or conditioning the generator refuses.
    FileNotFoundError
        No checkpoint there.
    """
    if generator in (None, "unimat", "structrepdiff"):
        if generator is not None and (err := checkpoint_kind_error(generator, checkpoint)):
            raise ValueError(err)
        if generator == "structrepdiff" and checkpoint is None:
            checkpoint = "structrepdiff-perov5"
        stage(f"loading checkpoint {checkpoint or 'perov5'}")
        gen = load_generator(checkpoint)
        sample = gen.sample
        stage("compiling the sampler (first batch)")
    else:
        if checkpoint is not None:
            raise ValueError(f"generator {generator!r} takes no --checkpoint")
        if any(c is None for c in compositions):
            raise ValueError(f"generator {generator!r} needs --composition")
        gen = make_generator(generator)
        sample = gen.sample
        if given := [k for k, v in kwargs.items() if v is not None]:
            raise ValueError(f"generator {generator!r} takes no {', '.join(given)}")
        kwargs = {}
    structures = []
    for comp in compositions:
        structures += sample(n, composition=comp, seed=seed, progress=progress, **kwargs)
    return structures, gen.provenance
