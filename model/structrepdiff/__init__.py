"""StructRepDiff (Sinha, Jia & Fung 2024): diffusion in an invariant descriptor space.

A crystal becomes a fixed-length vector R (:mod:`.representation`, Eq. R-1): the pooled,
periodic embedded-atom-density descriptor (:mod:`.ead`), normalised composition, atom count
and lattice parameters. A 1D U-Net DDPM (:mod:`.unet1d`, trained by the shared
:mod:`genflow.model.train`) samples R; positions come back by basin-hopping gradient descent
on the descriptor (:mod:`.reconstruct`).

Public API (heavy modules load lazily):

* :func:`load_structrepdiff` / :class:`StructRepDiffGenerator` — ``sample(n, composition=…,
  seed=…)`` returns pymatgen Structures with UniMat-compatible provenance;
  ``genflow.model.load_generator`` dispatches here on ``meta.json``.
* :func:`encode` (structures → R), :class:`RepSpec`, :class:`RepNorm`.
* :func:`reconstruct` (R → structure), :class:`ReconSettings`, :func:`match_and_rmse`.
* :func:`reconstruct_many` / :func:`summarize` — the reconstruction benchmark on any rows.
* :class:`EADParams`, :func:`pooled_ead` — the descriptor itself (JAX, differentiable).

>>> from genflow.model.structrepdiff import load_structrepdiff  # doctest: +SKIP
>>> load_structrepdiff().sample(2, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genflow.model.structrepdiff.ead import EADParams, pooled_ead
    from genflow.model.structrepdiff.evaluate import reconstruct_many, summarize
    from genflow.model.structrepdiff.generator import StructRepDiffGenerator
    from genflow.model.structrepdiff.reconstruct import (
        ReconSettings,
        match_and_rmse,
        reconstruct,
    )
    from genflow.model.structrepdiff.representation import RepNorm, RepSpec, encode

_WHERE = {
    "EADParams": "ead",
    "pooled_ead": "ead",
    "reconstruct_many": "evaluate",
    "summarize": "evaluate",
    "StructRepDiffGenerator": "generator",
    # loading is the kind dispatch's; no TYPE_CHECKING import of it: kinds imports .generator
    "load_structrepdiff": "genflow.model.kinds",
    "ReconSettings": "reconstruct",
    "match_and_rmse": "reconstruct",
    "reconstruct": "reconstruct",
    "RepNorm": "representation",
    "RepSpec": "representation",
    "encode": "representation",
}
__all__ = [
    "EADParams",
    "ReconSettings",
    "RepNorm",
    "RepSpec",
    "StructRepDiffGenerator",
    "encode",
    "load_structrepdiff",
    "match_and_rmse",
    "pooled_ead",
    "reconstruct",
    "reconstruct_many",
    "summarize",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        where = _WHERE[name]
        module = importlib.import_module(
            where if where.startswith("genflow.") else f"genflow.model.structrepdiff.{where}"
        )
        return getattr(module, name)
    raise AttributeError(f"module 'genflow.model.structrepdiff' has no attribute {name!r}")
