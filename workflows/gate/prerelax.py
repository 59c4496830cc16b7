"""Gate stages ``prerelax`` and ``prescreen``: MLIP relax of the survivors, then E_d on a hull."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from genflow.workflows.gate.records import GateRecord, GateStage, PrerelaxResult
from genflow.workflows.mlips import (
    DEFAULT_PRERELAX_MODEL,
    MLIPSpec,
    MLIPUnavailableError,
    mp2020_energy_per_atom,
    resolve_mlip,
    unsupported_elements,
)

if TYPE_CHECKING:
    from jobflow import Maker

__all__ = ["PRERELAX_METHODS", "prerelax_structures", "prescreen_records"]

logger = logging.getLogger(__name__)

# Å³/atom above which a cell is "exploded" (no MLIP neighbour within its ~5-6 Å cutoff for a
# typical atom; MP-20's largest is ~60 Å³/atom).
MAX_VOLUME_PER_ATOM = 150.0


PRERELAX_METHODS = ("batched", "atomate2")
_ATOMATE2_ONLY = ("steps", "relax_cell", "relax_kwargs", "torch_threads", "name")


def _precheck(structure: Structure, mlip: MLIPSpec) -> str | None:
    """Why the model cannot take this structure (None if it can): the model's own limits."""
    if not structure.is_ordered:
        return "disordered or partially occupied structure"
    if bad := unsupported_elements(mlip, structure.composition):
        return f"{mlip.label}: element(s) {', '.join(bad)} outside its training set"
    volume = structure.volume / max(len(structure), 1)
    if not math.isfinite(volume) or volume > MAX_VOLUME_PER_ATOM:
        return f"{mlip.label}: exploded cell ({volume:.0f} Å³/atom > {MAX_VOLUME_PER_ATOM})"
    return None


def prerelax_structures(
    structures: Sequence[Structure],
    maker: Maker | None = None,
    *,
    model: str = DEFAULT_PRERELAX_MODEL,
    calculator_kwargs: dict[str, Any] | None = None,
    method: str = "batched",
    batch_size: int = 32,
    **maker_kwargs: Any,
) -> list[PrerelaxResult]:
    """Relax a batch with one MLIP; energies on the MP2020 scale.

    Parameters
    ----------
    structures
        Structures to relax.
    maker
        A ``ForceFieldRelaxMaker``: relax each structure through it (atomate2 path).
    model, calculator_kwargs
        MLIP registry key or atomate2 name (``genflow.workflows.mlips.resolve_mlip``).
    method
        ``"batched"`` (default without ``maker``): one model call per optimiser step for the
        whole batch, through torch-sim (``ts_relax``; CHGNet's wrapper is ``ts_chgnet``;
        models without a torch-sim wrapper fall back to atomate2); ``"atomate2"``:
        ``MLIPRelaxMaker`` per structure.
    batch_size
        Structures per batched model call.
    **maker_kwargs
        ``MLIPRelaxMaker`` fields ``steps`` (500), ``relax_cell`` (True),
        ``relax_kwargs["fmax"]`` (0.05), ``torch_threads`` (1).

    Returns
    -------
    list[PrerelaxResult]
        One per structure; ``energy_per_atom`` on the MP2020 scale (``correction_per_atom``
        applied for raw-PBE models); a structure the model cannot take or fails on gets
        ``error`` with the model's reason.
    """
    if method not in PRERELAX_METHODS:
        raise ValueError(f"prerelax method {method!r}: choose from {PRERELAX_METHODS}")
    if ff := maker_kwargs.pop("force_field_name", None):  # old spelling of `model`
        model = ff
    mlip = resolve_mlip(model, calculator_kwargs)
    out: list[PrerelaxResult | None] = [None] * len(structures)
    todo = []
    for i, s in enumerate(structures):
        if why := _precheck(s, mlip):
            out[i] = PrerelaxResult(error=why, forcefield=mlip.label)
        else:
            todo.append(i)
    batch = [structures[i] for i in todo]
    if maker is None and method == "batched" and mlip.torch_sim:
        raw = _prerelax_batched(batch, mlip, batch_size, **maker_kwargs)
    else:
        raw = _prerelax_atomate2(batch, maker, mlip, **maker_kwargs)
    for i, res in zip(todo, raw, strict=True):
        out[i] = _on_mp2020_scale(res, mlip)
    return out


def _on_mp2020_scale(res: PrerelaxResult, mlip: MLIPSpec) -> PrerelaxResult:
    if res.error is not None:
        return dataclasses.replace(res, error=f"{mlip.label}: {res.error}", forcefield=mlip.label)
    try:
        corrected, corr = mp2020_energy_per_atom(res.structure, res.energy_per_atom, mlip)
    except ValueError as exc:
        return PrerelaxResult(error=f"{mlip.label}: {exc}", forcefield=mlip.label)
    return dataclasses.replace(
        res, energy_per_atom=corrected, correction_per_atom=corr, forcefield=mlip.label
    )


def _prerelax_atomate2(
    structures: Sequence[Structure], maker: Maker | None, mlip: MLIPSpec, **maker_kwargs: Any
) -> list[PrerelaxResult]:
    from genflow.workflows.relax import MLIPRelaxMaker

    maker = maker or MLIPRelaxMaker(
        force_field_name=mlip.force_field, calculator_kwargs=dict(mlip.calculator_kwargs),
        **maker_kwargs,
    )  # fmt: skip
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
                    forcefield_version=doc.forcefield_version,
                    method="atomate2",
                )
            )
        except MLIPUnavailableError:
            raise  # the model itself cannot load: every row would fail the same way
        except Exception as exc:  # a bad structure must not stop the batch
            logger.warning("pre-relax failed for %s: %s", structure.formula, exc)
            results.append(PrerelaxResult(error=f"{type(exc).__name__}: {exc}"))
    return results


def _prerelax_batched(
    structures: Sequence[Structure], mlip: MLIPSpec, batch_size: int, **kwargs: Any
) -> list[PrerelaxResult]:
    fmax = (kwargs.pop("relax_kwargs", None) or {}).get("fmax", 0.05)
    options = {"steps": kwargs.pop("steps", 500), "relax_cell": kwargs.pop("relax_cell", True),
               "torch_threads": kwargs.pop("torch_threads", 1)}  # fmt: skip
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"batched pre-relax: unknown option(s) {sorted(kwargs)}")
    if mlip.force_field == "CHGNet" and mlip.calculator_kwargs:
        raise ValueError(f"batched CHGNet takes no calculator kwargs: {mlip.calculator_kwargs}")
    from genflow.workflows.gate.ts_relax import relax_torch_sim

    results = relax_torch_sim(list(structures), mlip.torch_sim, mlip.calculator_kwargs,
                              fmax=fmax, batch_size=batch_size, **options)  # fmt: skip
    method = "torch-sim"
    out = []
    for res in results:
        if res.error is not None:
            out.append(PrerelaxResult(error=res.error, method=method))
            continue
        out.append(
            PrerelaxResult(
                structure=res.structure,
                energy_per_atom=res.energy_per_atom,
                converged=res.converged,
                n_steps=res.n_steps,
                forcefield_version=res.forcefield_version,
                method=method,
            )
        )
    return out


def prescreen_records(
    records: Sequence[GateRecord],
    hull: Any = None,
    max_e_d: float | None = None,
    maker: Maker | None = None,
    prerelax_method: str = "batched",
    model: str = DEFAULT_PRERELAX_MODEL,
    calculator_kwargs: dict[str, Any] | None = None,
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
    prerelax_method, model, calculator_kwargs
        See :func:`prerelax_structures`.
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    relaxed = prerelax_structures(
        [out[i].structure for i in live], maker, model=model,
        calculator_kwargs=calculator_kwargs, method=prerelax_method,
    )  # fmt: skip
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
