"""Gate stages ``prerelax`` and ``prescreen``: MLIP relax of the survivors, then E_d on a hull."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from genflow.workflows.gate.records import GateRecord, GateStage, PrerelaxResult

if TYPE_CHECKING:
    from jobflow import Maker

__all__ = ["PRERELAX_METHODS", "prerelax_structures", "prescreen_records"]

logger = logging.getLogger(__name__)


PRERELAX_METHODS = ("batched", "atomate2")


def prerelax_structures(
    structures: Sequence[Structure],
    maker: Maker | None = None,
    *,
    method: str = "batched",
    batch_size: int = 32,
    **maker_kwargs: Any,
) -> list[PrerelaxResult]:
    """Relax a batch with one force-field model.

    Parameters
    ----------
    structures
        Structures to relax.
    maker
        A ``ForceFieldRelaxMaker``: relax each structure through it (atomate2 path).
    method
        ``"batched"`` (default without ``maker``): ``batch_relax.relax_batch``, CHGNet on
        the whole batch per FIRE step; ``"atomate2"``: ``relax.MLIPRelaxMaker(**maker_kwargs)``
        per structure.
    batch_size
        Graphs per CHGNet call (batched path).
    **maker_kwargs
        ``MLIPRelaxMaker`` fields; the batched path reads the same ``steps`` (default 500),
        ``relax_cell`` (default True) and ``relax_kwargs["fmax"]`` (default 0.05).

    Returns
    -------
    list[PrerelaxResult]
        One per structure; a structure the force field fails on gets ``error``.
    """
    if method not in PRERELAX_METHODS:
        raise ValueError(f"prerelax method {method!r}: choose from {PRERELAX_METHODS}")
    if maker is None and method == "batched":
        return _prerelax_batched(structures, batch_size, **maker_kwargs)
    from genflow.workflows.relax import MLIPRelaxMaker

    maker = maker or MLIPRelaxMaker(**maker_kwargs)
    # maker.make(list) would also batch, but one failing structure would fail them all;
    # calling the undecorated make per structure reuses the maker's cached calculator.
    run = type(maker).make.original
    results = []
    for structure in structures:
        try:
            doc = run(maker, structure)
            energy = float(doc.output.energy) / len(doc.structure)
            if not math.isfinite(energy):
                raise ValueError(f"non-finite energy {energy}")
            results.append(
                PrerelaxResult(
                    structure=doc.structure,
                    energy_per_atom=energy,
                    converged=bool(doc.is_force_converged),
                    n_steps=doc.output.n_steps,
                    forcefield=doc.forcefield_name,
                    forcefield_version=doc.forcefield_version,
                    method="atomate2",
                )
            )
        except Exception as exc:  # a bad structure must not stop the batch
            logger.warning("pre-relax failed for %s: %s", structure.formula, exc)
            results.append(PrerelaxResult(error=f"{type(exc).__name__}: {exc}"))
    return results


def _prerelax_batched(
    structures: Sequence[Structure], batch_size: int, **kwargs: Any
) -> list[PrerelaxResult]:
    from genflow.workflows.gate.batch_relax import FORCEFIELD_NAME, relax_batch

    if (ff := kwargs.pop("force_field_name", "CHGNet")) != "CHGNet":
        raise ValueError(f"batched pre-relax supports CHGNet only, not {ff!r}")
    fmax = (kwargs.pop("relax_kwargs", None) or {}).get("fmax", 0.05)
    options = {"steps": kwargs.pop("steps", 500), "relax_cell": kwargs.pop("relax_cell", True),
               "torch_threads": kwargs.pop("torch_threads", 1)}  # fmt: skip
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"batched pre-relax: unknown option(s) {sorted(kwargs)}")
    out = []
    for res in relax_batch(list(structures), fmax=fmax, batch_size=batch_size, **options):
        if res.error is not None:
            out.append(PrerelaxResult(error=res.error, method="batched"))
            continue
        out.append(
            PrerelaxResult(
                structure=res.structure,
                energy_per_atom=res.energy_per_atom,
                converged=res.converged,
                n_steps=res.n_steps,
                forcefield=FORCEFIELD_NAME,
                forcefield_version=res.forcefield_version,
                method="batched",
            )
        )
    return out


def prescreen_records(
    records: Sequence[GateRecord],
    hull: Any = None,
    max_e_d: float | None = None,
    maker: Maker | None = None,
    prerelax_method: str = "batched",
) -> list[GateRecord]:
    """Stages ``prerelax`` and ``prescreen`` on the records that passed so far.

    Parameters
    ----------
    records
        Gate records; only passed ones are relaxed.
    hull
        A ``genflow.hull.ReferenceHull`` or a name/path for ``genflow.hull.load_hull``;
        None skips the E_d pre-screen.
    max_e_d
        Reject when the pre-relaxed E_d (eV/atom) exceeds this; None only records E_d.
    maker
        Force-field relax maker; given, each structure goes through it (atomate2 path).
    prerelax_method
        ``"batched"`` or ``"atomate2"`` (see :func:`prerelax_structures`).
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    relaxed = prerelax_structures([out[i].structure for i in live], maker, method=prerelax_method)
    for i, res in zip(live, relaxed, strict=True):
        if res.error is not None:
            out[i] = out[i].reject(GateStage.PRERELAX, res.error, prerelax=res)
        else:
            out[i] = dataclasses.replace(out[i], prerelax=res, structure=res.structure)
    if hull is None:
        return out
    if isinstance(hull, str):
        from genflow.hull import load_hull

        hull = load_hull(hull)
    hull_name = getattr(hull, "name", None)
    live = [i for i in live if out[i].passed]
    scores = hull.score(
        [out[i].structure.composition for i in live],
        [out[i].prerelax.energy_per_atom for i in live],
    )
    for i, score in zip(live, scores, strict=True):
        if score.error is not None or score.e_d is None:
            # unscorable (e.g. an element the hull lacks): keep it, DFT decides
            logger.info("pre-screen skipped for %s: %s", out[i].key, score.error)
            continue
        out[i] = dataclasses.replace(out[i], e_d=float(score.e_d), hull=hull_name)
        if max_e_d is not None and score.e_d > max_e_d:
            why = f"pre-relaxed E_d {score.e_d:.3f} eV/atom > {max_e_d} on {hull_name}"
            out[i] = out[i].reject(GateStage.PRESCREEN, why)
    return out
