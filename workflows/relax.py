"""Relax+static with a selectable engine, and MP-compatible energies from its task documents.

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
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker
from jobflow import Flow, Maker

from genflow.hull.scheme import pp_offsets
from genflow.workflows.gpaw_calc import GPAWRelaxMaker, GPAWStaticMaker, gpaw_calculator_kwargs
from genflow.workflows.mlips import (
    MLIPS,
    MLIPUnavailableError,
    mp2020_energy_per_atom,
    resolve_mlip,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

__all__ = [
    "ENGINES",
    "EngineEnergy",
    "EngineName",
    "MLIPRelaxMaker",
    "MLIPStaticMaker",
    "RelaxStaticMaker",
    "mp_compatible_energy",
    "pbe54_elements",
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
    campaign loads the same weights once per job. CHGNet without extra kwargs reuses the
    model the batched pre-relax loads (``gate.batch_relax.load_chgnet``).
    """
    import json

    kwargs = dict(maker.calculator_kwargs)
    key = (str(maker.force_field_name), json.dumps(kwargs, sort_keys=True, default=str))
    if key not in _CALCULATORS:
        threads = getattr(maker, "torch_threads", None)
        _limit_torch_threads(threads)
        if maker.mlff.name == "CHGNet" and not kwargs:
            from chgnet.model.dynamics import CHGNetCalculator

            from genflow.workflows.gate.batch_relax import load_chgnet

            _CALCULATORS[key] = CHGNetCalculator(model=load_chgnet(threads))
        else:
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

    relax_kwargs = {"fmax": 0.05 if fmax is None else fmax, "final_atoms_object_file": None}
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


@dataclass(frozen=True)
class EngineEnergy:
    """A final energy and whether it can be scored against MP-compatible hulls.

    Attributes
    ----------
    engine
        Engine that computed it.
    energy_per_atom
        eV/atom after MP2020 corrections when ``mp_compatible`` (else as computed).
    uncorrected_energy_per_atom, correction_per_atom
        eV/atom before corrections, and the MP2020 correction minus the POTCAR offsets
        (``pp_offsets``; 0 for CHGNet and GPAW).
    natoms
        Atoms in the cell.
    formula
        Reduced formula.
    mp_compatible
        True if ``energy_per_atom`` may be compared with MP2020-corrected hull energies.
    reason
        Why it is not compatible (None if it is).
    potcar_scale
        POTCAR scale the engine computed on: ``"mp"`` (MP's legacy PBE POTCARs; CHGNet, which
        is fitted to them), ``"gnome"`` (every Ga/Ge/Li/Mg/Na POTCAR from PBE_54, as the
        paper's settings take them) or ``"mixed"`` (only some of them).
    pp_offsets
        Element → GNoME POTCAR offset (eV per atom of the compound, ``hull.scheme.pp_offsets``)
        subtracted to bring ``energy_per_atom`` onto MP's scale; empty on the ``"mp"`` scale.
        ``energy_per_atom`` is always on MP's POTCAR scale.
    """

    engine: str
    energy_per_atom: float
    uncorrected_energy_per_atom: float
    correction_per_atom: float
    natoms: int
    formula: str
    mp_compatible: bool
    reason: str | None = None
    potcar_scale: str = "mp"
    pp_offsets: dict[str, float] = field(default_factory=dict)


def _as_dict(doc: Any) -> dict:
    if isinstance(doc, dict):
        return doc
    if hasattr(doc, "model_dump"):
        return doc.model_dump()
    return doc.as_dict()


def _vasp_entry(doc: Any):
    from pymatgen.entries.computed_entries import ComputedEntry

    if isinstance(doc, ComputedEntry):
        return doc
    entry = getattr(doc, "entry", None) if not isinstance(doc, dict) else doc.get("entry")
    if entry is None:
        raise ValueError("vasp task document has no `entry` (is it an atomate2 VASP TaskDoc?)")
    return entry if isinstance(entry, ComputedEntry) else ComputedEntry.from_dict(entry)


def _ff_energy(doc: Any) -> tuple[float, Any, str | None]:
    """Return (total energy eV, composition, force-field name) of a force-field task doc."""
    from pymatgen.core import Structure

    d = _as_dict(doc)
    out = d.get("output") or {}
    energy = out.get("energy")
    structure = out.get("structure") or d.get("structure")
    if energy is None or structure is None:
        raise ValueError("force-field task document lacks output.energy or output.structure")
    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    return float(energy), structure.composition, d.get("forcefield_name")


def pbe54_elements(entry: Any) -> tuple[list[str], list[str]]:
    """Elements of a VASP entry computed with PBE_54 POTCARs, and those with MP's.

    Read from the entry's POTCAR record (``parameters["potcar_spec"]`` TITELs, or
    ``potcar_symbols``) against ``powerups.NEWER_PAW_POTCARS``: only Ga, Ge, Li, Mg and Na
    differ between the two releases under the same symbol. Returns ``(pbe54, mp)`` lists of
    those five elements present in the entry; other elements are in neither.
    """
    from genflow.workflows.powerups import NEWER_PAW_POTCARS

    params = getattr(entry, "parameters", None) or {}
    titels = [s.get("titel") for s in params.get("potcar_spec") or [] if isinstance(s, dict)]
    titels = [t for t in titels if t] or list(params.get("potcar_symbols") or [])
    pbe54, mp = [], []
    for titel in titels:
        parts = str(titel).split()
        if len(parts) < 2:
            continue
        el = parts[1].split("_")[0]
        paw = NEWER_PAW_POTCARS.get(el)
        if paw is None:
            continue
        if " ".join(parts[:3]) == paw.new_titel:
            pbe54.append(el)
        else:
            mp.append(el)
    return pbe54, mp


def _ff_structure(doc: Any) -> Structure:
    from pymatgen.core import Structure

    d = _as_dict(doc)
    st = (d.get("output") or {}).get("structure") or d.get("structure")
    return Structure.from_dict(st) if isinstance(st, dict) else st


def mp_compatible_energy(task_doc_or_entry: Any, engine: EngineName) -> EngineEnergy:
    """Return the final energy of a relax+static result and its MP compatibility.

    Parameters
    ----------
    task_doc_or_entry
        ``vasp``: an atomate2 VASP ``TaskDoc`` (object or dict, as read from a JobStore) or
        a ``ComputedEntry``. ``mlip``/``gpaw``: a ``ForceFieldTaskDocument`` (object or dict).
    engine
        The engine that produced it.

    Returns
    -------
    EngineEnergy
        VASP energies corrected by ``MaterialsProject2020Compatibility`` (``mp_compatible``
        False with the reason if it rejects the entry) and moved from PBE_54 POTCARs onto MP's
        POTCAR scale (``potcar_scale``, ``pp_offsets``: Eq. PP of ``hull.scheme``); CHGNet
        energies as they are (compatible, MP scale); GPAW and other force fields flagged not
        compatible.
    """
    if engine not in ENGINES:
        raise ValueError(f"mp_compatible_energy: unknown engine {engine!r}; choose from {ENGINES}")
    if engine == "vasp":
        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        entry = _vasp_entry(task_doc_or_entry)
        natoms = round(entry.composition.num_atoms)
        raw = entry.uncorrected_energy / natoms
        processed = MaterialsProject2020Compatibility(check_potcar=True).process_entries(
            [entry.copy()], inplace=False, on_error="warn"
        )
        ok = bool(processed)
        corrected = processed[0].energy / natoms if ok else raw
        reason = None if ok else "MaterialsProject2020Compatibility rejected the entry"
        formula = entry.composition.reduced_formula
        # PBE_54 POTCARs of Ga/Ge/Li/Mg/Na → MP's POTCAR scale (GNoME's published offsets)
        pbe54, legacy = pbe54_elements(entry)
        scale = "mixed" if pbe54 and legacy else "gnome" if pbe54 else "mp"
        offsets = pp_offsets(entry.composition, pbe54) if pbe54 else {}
        corrected -= sum(offsets.values())
    else:
        energy, comp, ff_name = _ff_energy(task_doc_or_entry)
        natoms = round(comp.num_atoms)
        raw = corrected = energy / natoms
        formula = comp.reduced_formula
        ff = (ff_name or "").split("MLFF.")[-1]
        ok, reason = engine == "mlip" and bool(ff), None
        scale, offsets = "mp", {}
        if engine == "gpaw":
            reason = "GPAW energies (own PAW setups and cutoff) are not MP2020-compatible"
        elif not ok:
            reason = "force-field task document names no force field"
        else:  # raw-PBE models (SevenNet, MACE, ...) get MP2020 corrections here
            try:
                structure = _ff_structure(task_doc_or_entry)
                corrected, _ = mp2020_energy_per_atom(structure, raw, resolve_mlip(ff))
            except ValueError as exc:
                ok, reason = False, f"{ff}: {exc}"
    if not math.isfinite(corrected):
        ok, reason = False, f"non-finite energy {corrected}"
    return EngineEnergy(
        engine=engine,
        energy_per_atom=float(corrected),
        uncorrected_energy_per_atom=float(raw),
        correction_per_atom=float(corrected - raw),
        natoms=natoms,
        formula=formula,
        mp_compatible=ok,
        reason=reason,
        potcar_scale=scale,
        pp_offsets=offsets,
    )
