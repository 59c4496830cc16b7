"""Batched CHGNet relaxation: one model call per optimiser step for a whole batch.

atomate2's ``ForceFieldRelaxMaker`` relaxes one structure at a time: ASE's ``FIRE`` on a
``FrechetCellFilter`` (cell and positions, ``relax_cell=True``) with a ``CHGNetCalculator``
that runs one graph through CHGNet per step. :func:`relax_batch` keeps exactly that
optimiser and filter per structure (ASE objects, so the trajectory is the same algorithm)
but computes energies, forces and stresses of every unconverged structure in one batched
CHGNet forward/backward (``CHGNet.predict_graph`` on a list of graphs, i.e. one
``BatchedGraph``) per step. Each structure stops when its own FIRE converges (its
filter forces, cell included, below ``fmax``) or reaches ``steps``; the others go on.

Agreement with atomate2 (same ``fmax``, ``steps``, ``relax_cell``): the results are those
of the same optimiser on the same model, so energies agree to the precision of CHGNet's
batched versus single-graph arithmetic (float32); ``tests/workflows/test_batch_relax.py``
checks 5 meV/atom and ``benchmarks/bench_gate.py`` reports the largest difference.

>>> relax_batch([])
[]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms
    from pymatgen.core import Structure

__all__ = ["BatchRelaxResult", "load_chgnet", "relax_batch"]

logger = logging.getLogger(__name__)

FORCEFIELD_NAME = "MLFF.CHGNet"  # atomate2's name of the same force field


@cache
def load_chgnet(torch_threads: int | None = 1) -> Any:
    """The pretrained CHGNet (bundled with the chgnet package), loaded once per process."""
    import torch
    from chgnet.model import CHGNet

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)  # one thread: 8x faster than two on 2 cores
    model = CHGNet.load(verbose=False, use_device="cpu")
    model.graph_converter.set_isolated_atom_response("warn")  # as CHGNetCalculator does
    return model


@dataclass(frozen=True)
class BatchRelaxResult:
    """One structure's relaxation (eV/atom); ``error`` set and the rest None on failure.

    ``converged`` is FIRE's own criterion (filter forces, cell included, below ``fmax``);
    ``is_force_converged`` is atomate2's (every atomic force below ``fmax``). ``n_steps``
    counts CHGNet evaluations (FIRE steps + 1; atomate2's trajectory adds one more frame).
    """

    structure: Structure | None = None
    energy_per_atom: float | None = None
    converged: bool | None = None
    is_force_converged: bool | None = None
    n_steps: int | None = None
    forcefield_version: str | None = None
    error: str | None = None


class _Run:
    """ASE state of one structure: atoms, optional cell filter, FIRE."""

    def __init__(self, structure: Structure, relax_cell: bool, fmax: float) -> None:
        from ase.filters import FrechetCellFilter
        from ase.optimize import FIRE
        from pymatgen.io.ase import AseAtomsAdaptor

        self.atoms: Atoms = AseAtomsAdaptor.get_atoms(structure)
        target = FrechetCellFilter(self.atoms) if relax_cell else self.atoms
        self.opt = FIRE(target, logfile=None)
        self.opt.fmax = fmax
        self.energy: float | None = None
        self.converged = False
        self.error: str | None = None


def _evaluate(model: Any, runs: list[_Run], batch_size: int) -> None:
    """One batched CHGNet call; results go on each ``atoms`` as a single-point calculator."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.units import GPa
    from pymatgen.io.ase import AseAtomsAdaptor

    graphs, ok = [], []
    for run in runs:
        try:
            graphs.append(model.graph_converter(AseAtomsAdaptor.get_structure(run.atoms)))
            ok.append(run)
        except Exception as exc:  # e.g. isolated atoms: this structure fails, not the batch
            run.error = f"graph: {type(exc).__name__}: {exc}"
    if not graphs:
        return
    preds = model.predict_graph(graphs, task="efs", batch_size=batch_size)
    preds = [preds] if isinstance(preds, dict) else preds
    for run, pred in zip(ok, preds, strict=True):
        e_atom = float(pred["e"])
        if not math.isfinite(e_atom) or not np.all(np.isfinite(pred["f"])):
            run.error = f"non-finite CHGNet energy/forces (E = {e_atom})"
            continue
        run.energy = e_atom
        # the units and extensive energy of chgnet's CHGNetCalculator (stress GPa -> eV/Å^3)
        run.atoms.calc = SinglePointCalculator(
            run.atoms,
            energy=e_atom * len(run.atoms),
            free_energy=e_atom * len(run.atoms),
            forces=pred["f"],
            stress=pred["s"] * GPa,
        )


def _check(run: _Run) -> bool:
    """Update ``run.converged`` (FIRE's criterion); False if the structure failed."""
    if run.error is not None:
        return False
    try:
        run.converged = run.opt.gradient_converged(run.opt.optimizable.get_gradient())
    except Exception as exc:  # e.g. NaN positions: ASE sees changed atoms, no results
        run.error = f"{type(exc).__name__}: {exc}"
        return False
    return True


def relax_batch(
    structures: list[Structure],
    *,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = True,
    batch_size: int = 32,
    model: Any = None,
    torch_threads: int | None = 1,
) -> list[BatchRelaxResult]:
    """Relax structures with CHGNet, one batched model call per FIRE step.

    Parameters
    ----------
    structures
        Structures to relax.
    fmax
        Force tolerance (eV/Å) of each structure's FIRE (atomate2's ``relax_kwargs["fmax"]``).
    steps
        Maximum FIRE steps per structure (atomate2's ``steps``).
    relax_cell
        Relax the cell too (ASE ``FrechetCellFilter``, atomate2's default) or positions only.
    batch_size
        Graphs per CHGNet forward pass.
    model
        A loaded ``chgnet.model.CHGNet``; default :func:`load_chgnet` (pretrained, cached).
    torch_threads
        torch threads when loading the default model.

    Returns
    -------
    list[BatchRelaxResult]
        One per structure, same order; a structure that fails gets ``error``.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    if not structures:
        return []
    model = model if model is not None else load_chgnet(torch_threads)
    runs = []
    for s in structures:
        try:
            runs.append(_Run(s, relax_cell, fmax))
        except Exception as exc:
            logger.warning("batched relax: cannot set up %s: %s", s.formula, exc)
            runs.append(None)
    live = [r for r in runs if r is not None]
    _evaluate(model, live, batch_size)
    # the loop of ase's Optimizer.irun, for every structure at once
    active = []
    for run in live:
        if _check(run) and not run.converged and steps > 0:
            active.append(run)
    while active:
        for run in active:
            try:
                run.opt.step()
            except Exception as exc:  # e.g. a collapsing cell: this structure only
                run.error = f"FIRE step: {type(exc).__name__}: {exc}"
            run.opt.nsteps += 1
        _evaluate(model, [r for r in active if r.error is None], batch_size)
        still = []
        for run in active:
            if _check(run) and not run.converged and run.opt.nsteps < steps:
                still.append(run)
        active = still

    version = getattr(model, "version", None)
    out = []
    for run in runs:
        if run is None:
            out.append(BatchRelaxResult(error="could not build ASE atoms"))
        elif run.error is not None or run.energy is None:
            out.append(BatchRelaxResult(error=run.error or "no CHGNet result"))
        else:
            forces = run.atoms.get_forces()
            relaxed = AseAtomsAdaptor.get_structure(run.atoms)
            out.append(
                BatchRelaxResult(
                    structure=relaxed,
                    energy_per_atom=run.energy,
                    converged=bool(run.converged),
                    is_force_converged=bool(np.all(np.linalg.norm(forces, axis=1) < fmax)),
                    n_steps=int(run.opt.nsteps) + 1,  # ionic steps, the initial one too
                    forcefield_version=str(version) if version is not None else None,
                )
            )
    return out
