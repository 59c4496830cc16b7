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

from genflow.core.progress import stage

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "BUNDLED_CHECKPOINT",
    "CHECKPOINTS",
    "CHECKPOINT_DIR",
    "CHECKPOINT_KINDS",
    "DEFAULT_CHECKPOINT",
    "GENERATOR_KINDS",
    "TRAIN_CONFIGS",
    "SampleRow",
    "bundled_names",
    "checkpoint_kind_error",
    "checkpoint_model_name",
    "make_generator",
    "resolve_checkpoint",
    "sample_structures",
    "structures_or_raise",
]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
#: Checkpoint names (``--checkpoint NAME``, a spec's ``generator.checkpoint``) → directory under
#: ``model/checkpoints/``. A registered name whose directory is absent was not trained for this
#: release; its config is ready (:data:`TRAIN_CONFIGS`).
CHECKPOINTS: dict[str, str] = {
    "perov5": "perov5_runlocal",
    "unimat-perov5": "perov5_runlocal",
    "carbon24": "carbon24_runlocal",
    "mp20": "mp20_runlocal",
    "structrepdiff-perov5": "structrepdiff_perov5_runlocal",
}
#: The ``genflow train`` config that produces each registered checkpoint.
TRAIN_CONFIGS = {
    "perov5": "perov5:runlocal",
    "unimat-perov5": "perov5:runlocal",
    "carbon24": "carbon24:runlocal",
    "mp20": "mp20:runlocal",
    "structrepdiff-perov5": "structrepdiff-perov5:runlocal",
}
DEFAULT_CHECKPOINT = "perov5"
BUNDLED_CHECKPOINT = CHECKPOINT_DIR / CHECKPOINTS[DEFAULT_CHECKPOINT]
#: Kinds that sample a checkpoint, and the default checkpoint of each.
CHECKPOINT_KINDS = {"unimat": DEFAULT_CHECKPOINT, "structrepdiff": "structrepdiff-perov5"}
#: Every generator kind (``structures`` imports files instead: genflow.workflows.generate).
GENERATOR_KINDS = (*CHECKPOINT_KINDS, "random")


@dataclass(frozen=True)
class SampleRow:
    """One sample: its structure, or ``error`` saying why there is none."""

    index: int
    structure: Structure | None = None
    error: str | None = None
    label: str | None = field(default=None, compare=False)


def structures_or_raise(rows: list[SampleRow]) -> list[Structure]:
    """The structures of ``rows``; the first failed sample raises ``RuntimeError`` with its reason.

    ``sample()`` of every generator is ``structures_or_raise(sample_rows(...))``: callers that
    must not lose a batch to one bad sample call ``sample_rows`` instead.
    """
    for row in rows:
        if row.structure is None:
            raise RuntimeError(f"sample {row.index} {row.error}")
    return [row.structure for row in rows]


def resolve_checkpoint(checkpoint: str | Path | None = None) -> Path:
    """Directory of a checkpoint given by bundled name, by path, or ``None`` (the default).

    A registered name wins over a relative directory of the same name; write ``./perov5``
    for the directory.

    Raises
    ------
    ValueError
        Neither a registered name nor an existing path (the message lists the names).
    FileNotFoundError
        A registered name whose checkpoint is not bundled in this install.
    """
    text = DEFAULT_CHECKPOINT if checkpoint is None else str(checkpoint)
    if text in CHECKPOINTS:
        root = CHECKPOINT_DIR / CHECKPOINTS[text]
        if not (root / "meta.json").is_file():
            config = TRAIN_CONFIGS.get(text, f"{text}:runlocal")
            raise FileNotFoundError(
                f"checkpoint {text!r} is registered but not bundled in this install "
                f"(bundled: {', '.join(bundled_names()) or 'none'}); train it with "
                f"`genflow train {config} --workdir runs/{text}` and pass --checkpoint runs/{text}"
            )
        return root
    path = Path(text).expanduser()
    if not path.exists():
        raise ValueError(
            f"unknown checkpoint {text!r}: not a bundled name ({', '.join(CHECKPOINTS)}) "
            "and no such directory"
        )
    return path


def bundled_names() -> list[str]:
    """Registered checkpoint names whose directory ships with this install."""
    return [k for k, v in CHECKPOINTS.items() if (CHECKPOINT_DIR / v / "meta.json").is_file()]


def checkpoint_model_name(checkpoint: str | Path | None) -> str | None:
    """``meta.json``'s ``model_name`` (``"unimat"`` when unset); None: no readable meta.json."""
    try:
        meta = resolve_checkpoint(checkpoint) / "meta.json"
        return json.loads(meta.read_text()).get("model_name", "unimat")
    except (OSError, ValueError):
        return None


def checkpoint_kind_error(kind: str, checkpoint: str | Path | None) -> str | None:
    """Why ``checkpoint`` cannot serve ``kind`` (None: it can, or it cannot be read yet)."""
    if checkpoint is None:
        return None
    model = checkpoint_model_name(checkpoint)
    name = str(checkpoint)
    if model is None and name in CHECKPOINTS:  # registered, not bundled: the name says
        model = "structrepdiff" if name.startswith("structrepdiff-") else "unimat"
    if model is not None and model != kind:
        return f"checkpoint {name!r} is a {model} checkpoint, not {kind}"
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
        from genflow.model import load_generator

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
