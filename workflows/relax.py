"""Relax+static with a selectable engine (energies: :mod:`genflow.workflows.energies`).

Engines (:func:`relax_static_maker`):

``vasp``
    atomate2's ``MPGGADoubleRelaxStaticMaker`` (relax, relax, static with MP's GGA/GGA+U
    input sets) with the paper's settings as powerups (``genflow.workflows.powerups``).
    Energies go through ``MaterialsProject2020Compatibility``.
``mlip``
    atomate2's ``ForceFieldRelaxMaker`` + ``ForceFieldStaticMaker`` with CHGNet
    (``force_field_name="CHGNet"``, atomate2's ``MLFF.CHGNet``), on one torch thread: on
    2 shared cores that is 8x faster than two. CHGNet is fitted to MP2020-corrected MPtrj
    energies, so its energies are used as they are.
``gpaw``
    The same force-field makers with an ASE GPAW calculator (``genflow.workflows.gpaw_calc``):
    real DFT for tiny cells. Not MP-compatible: scoring against MP/GNoME hulls must refuse
    these energies unless forced, while ΔE_f between two GPAW sets stays valid.

>>> maker = relax_static_maker("mlip", fmax=0.1)
>>> maker.relax_maker.relax_kwargs["fmax"], maker.relax_maker.force_field_name
(0.1, 'MLFF.CHGNet')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker
from jobflow import Flow, Maker

from genflow.workflows.gpaw_calc import GPAWRelaxMaker, GPAWStaticMaker, gpaw_calculator_kwargs
from genflow.workflows.mlips import (
    MLIPS,
    MLIPUnavailableError,
    resolve_mlip,
)
from genflow.workflows.restart import CHECKPOINT_TRAJ

if TYPE_CHECKING:
    from pathlib import Path

    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

__all__ = [
    "ENGINES",
    "EngineName",
    "MLIPRelaxMaker",
    "MLIPStaticMaker",
    "RelaxStaticMaker",
    "relax_static_maker",
]

logger = logging.getLogger(__name__)

EngineName = Literal["vasp", "mlip", "gpaw"]
ENGINES: tuple[str, ...] = get_args(EngineName)

# Force fields whose energies are fitted to MP2020-corrected MPtrj energies (the others go
# through MaterialsProject2020Compatibility: ``mlips.mp2020_energy_per_atom``).
MP2020_FORCE_FIELDS = frozenset(s.force_field for s in MLIPS.values() if s.energy_scale == "mp2020")


def _limit_torch_threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


_CALCULATORS: dict[tuple[str, str], Calculator] = {}


def shared_calculator(maker: ForceFieldRelaxMaker | ForceFieldStaticMaker) -> Calculator:
    """The maker's ASE calculator, loaded once per process per (force field, kwargs).

    atomate2 caches a calculator per maker instance, but every relax and static job of a
    campaign gets its own maker (and FireWorks deserialises one per job), so without this a
    campaign loads the same weights once per job. CHGNet (without a ``model`` kwarg) reuses the
    model the batched pre-relax loads (``mlips.load_chgnet``).
    """
    import json

    kwargs = dict(maker.calculator_kwargs)
    key = (str(maker.force_field_name), json.dumps(kwargs, sort_keys=True, default=str))
    if key not in _CALCULATORS:
        from genflow.core.progress import quiet_batch_chatter, stage

        quiet_batch_chatter()  # under rlaunch: torch's warnings to the launch dir's log
        threads = getattr(maker, "torch_threads", None)
        _limit_torch_threads(threads)
        if maker.mlff.name == "CHGNet" and "model" not in kwargs:
            stage("relaxing with CHGNet")  # load_chgnet says when it loads the model
            from chgnet.model.dynamics import CHGNetCalculator

            from genflow.workflows.mlips import load_chgnet

            # atomate2 pads CHGNet's kwargs with {"stress_unit": "eV/A3"} (which chgnet's
            # calculator ignores): testing for empty kwargs loaded CHGNet a second time
            _CALCULATORS[key] = CHGNetCalculator(model=load_chgnet(threads), **kwargs)
        else:
            stage(f"loading MLIP {maker.mlff.name}")
            try:
                _CALCULATORS[key] = ForceFieldRelaxMaker._get_calculator(maker)
            except Exception as exc:  # weights downloaded at run time, package missing, ...
                raise MLIPUnavailableError(
                    f"cannot load MLIP {maker.force_field_name} {kwargs or ''}: "
                    f"{type(exc).__name__}: {exc} (offline here: CHGNet, SevenNet)"
                ) from exc
    return _CALCULATORS[key]


@dataclass
class MLIPRelaxMaker(ForceFieldRelaxMaker):
    """atomate2 force-field relax on ``torch_threads`` threads with a per-process calculator."""

    name: str = "CHGNet relax"
    force_field_name: str = "CHGNet"
    torch_threads: int | None = 1
    relax_kwargs: dict = field(
        default_factory=lambda: {"fmax": 0.05, "final_atoms_object_file": None}
    )

    def _get_calculator(self) -> Calculator:
        """The force field, loaded once per process (:func:`shared_calculator`)."""
        return shared_calculator(self)


@dataclass
class MLIPStaticMaker(ForceFieldStaticMaker):
    """atomate2 force-field static on ``torch_threads`` threads with a per-process calculator."""

    name: str = "CHGNet static"
    force_field_name: str = "CHGNet"
    torch_threads: int | None = 1
    relax_kwargs: dict = field(default_factory=lambda: {"final_atoms_object_file": None})

    def _get_calculator(self) -> Calculator:
        """The force field, loaded once per process (:func:`shared_calculator`)."""
        return shared_calculator(self)


@dataclass
class RelaxStaticMaker(Maker):
    """Relax, then a static calculation on the relaxed structure.

    Parameters
    ----------
    name
        Flow name.
    relax_maker
        Job maker of the relaxation.
    static_maker
        Job maker of the static run; ``None`` skips it (the relax output is the result).
    """

    name: str = "relax static"
    relax_maker: Maker = field(default_factory=MLIPRelaxMaker)
    static_maker: Maker | None = field(default_factory=MLIPStaticMaker)

    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Flow:
        """Return a Flow whose output is the static (or relax) task document."""
        # relax cell and positions
        relax = self.relax_maker.make(structure, prev_dir=prev_dir)
        jobs, output = [relax], relax.output
        # single point on the relaxed cell
        if self.static_maker is not None:
            static = self.static_maker.make(relax.output.structure, prev_dir=None)
            jobs.append(static)
            output = static.output
        return Flow(jobs, output=output, name=self.name)


def _vasp_maker(paper_settings: bool, allow_incompatible: bool, **kw: Any) -> Maker:
    from atomate2.vasp.flows.mp import MPGGADoubleRelaxStaticMaker
    from atomate2.vasp.powerups import (
        update_user_incar_settings,
        update_user_kpoints_settings,
        update_user_potcar_settings,
    )

    from genflow.workflows.powerups import apply_paper_settings, mp_compatibility_problems

    maker = MPGGADoubleRelaxStaticMaker(name=kw.pop("name", "MP GGA relax"))
    if paper_settings:
        maker = apply_paper_settings(maker)
    if incar := kw.pop("incar_updates", None):
        maker = update_user_incar_settings(maker, incar)
    if kpoints := kw.pop("kpoints_updates", None):
        maker = update_user_kpoints_settings(maker, kpoints)
    if potcars := kw.pop("potcar_updates", None):
        maker = update_user_potcar_settings(maker, potcars)
    if kw:
        raise TypeError(f"relax_static_maker('vasp'): unknown option(s) {sorted(kw)}")
    if not allow_incompatible and (problems := mp_compatibility_problems(maker)):
        raise ValueError(
            "relax_static_maker('vasp'): energies would not be MP2020-compatible: "
            + "; ".join(problems)
            + " (pass allow_incompatible=True to run anyway)"
        )
    return maker


def relax_static_maker(
    engine: EngineName,
    *,
    fmax: float | None = None,
    steps: int | None = None,
    force_field: str = "CHGNet",
    torch_threads: int | None = 1,
    paper_settings: bool = True,
    allow_incompatible: bool = False,
    **overrides: Any,
) -> Maker:
    """Return a Maker whose ``make(structure)`` is a relax+static Flow on ``engine``.

    Parameters
    ----------
    engine
        ``"vasp"``, ``"mlip"`` or ``"gpaw"`` (see the module docstring).
    fmax, steps
        Force tolerance (eV/Å, default 0.05) and maximum optimiser steps (default 500) of
        the ``mlip``/``gpaw`` relaxation. The ``vasp`` engine ignores them: MP's input sets
        fix EDIFFG and NSW, and changing them would break MP compatibility.
    force_field
        atomate2 force-field name of the ``mlip`` engine.
    torch_threads
        torch threads of the ``mlip`` engine (None leaves torch alone).
    paper_settings
        ``vasp``: apply ``powerups.apply_paper_settings`` (Γ-centred grids, ferromagnetic
        start, newer Li/Na/Mg/Ge/Ga POTCARs).
    allow_incompatible
        ``vasp``: build the maker even if the overrides break MP2020 compatibility.
    **overrides
        ``name`` (all engines); ``incar_updates``, ``kpoints_updates``, ``potcar_updates``
        (``vasp``, applied with atomate2's powerups); ``calculator_kwargs`` (``mlip``);
        ``gpaw_kwargs`` (``gpaw``, passed to ``gpaw_calc.gpaw_calculator_kwargs``).

    Raises
    ------
    ValueError
        For an unknown engine or an MP-incompatible ``vasp`` override.
    TypeError
        For an override the engine does not know.
    """
    if engine not in ENGINES:
        raise ValueError(f"relax_static_maker: unknown engine {engine!r}; choose from {ENGINES}")
    if engine == "vasp":
        if fmax is not None or steps is not None:
            logger.debug("vasp engine: fmax/steps ignored, MP input sets fix EDIFFG and NSW")
        return _vasp_maker(paper_settings, allow_incompatible, **overrides)

    relax_kwargs = {
        "fmax": 0.05 if fmax is None else fmax,
        "final_atoms_object_file": None,
        # every step appended to the job's directory: a killed relax resumes from it
        "trajectory": CHECKPOINT_TRAJ,
    }
    steps = 500 if steps is None else steps
    name = overrides.pop("name", None)
    if engine == "mlip":
        mlip = resolve_mlip(force_field, overrides.pop("calculator_kwargs", None))
        force_field, calc_kwargs = mlip.force_field, mlip.calculator_kwargs
        common = {"force_field_name": force_field, "torch_threads": torch_threads}
        relax = MLIPRelaxMaker(
            name=f"{force_field} relax", steps=steps, relax_kwargs=relax_kwargs,
            calculator_kwargs=dict(calc_kwargs), **common,
        )  # fmt: skip
        static = MLIPStaticMaker(
            name=f"{force_field} static", calculator_kwargs=dict(calc_kwargs), **common
        )
    else:
        calc_kwargs = gpaw_calculator_kwargs(**overrides.pop("gpaw_kwargs", {}))
        relax = GPAWRelaxMaker(
            steps=steps, relax_kwargs=relax_kwargs, calculator_kwargs=calc_kwargs
        )
        static = GPAWStaticMaker(calculator_kwargs=dict(calc_kwargs))
    if overrides:
        raise TypeError(f"relax_static_maker({engine!r}): unknown option(s) {sorted(overrides)}")
    return RelaxStaticMaker(
        name=name or f"{engine} relax static", relax_maker=relax, static_maker=static
    )
