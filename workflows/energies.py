"""MP-compatible energies from a relax+static result, on one POTCAR scale.

:func:`mp_compatible_energy` turns an engine's final task document into an
:class:`EngineEnergy` (eV/atom): VASP through ``MaterialsProject2020Compatibility`` and moved
from PBE_54 POTCARs onto MP's scale (Eq. PP of ``genflow.hull.scheme``); force fields by their
registry entry (``genflow.workflows.mlips``: CHGNet as is, raw-PBE models through MP2020
corrections); GPAW flagged as not MP-compatible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genflow.hull.scheme import vasp_energy_on_mp_scale
from genflow.workflows.mlips import mp2020_energy_per_atom, resolve_mlip

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from genflow.workflows.relax import EngineName

__all__ = ["EngineEnergy", "mp_compatible_energy"]


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


def _ff_energy(doc: Any) -> tuple[float, Structure, str | None]:
    """Return (total energy eV, final structure, force-field name) of a force-field task doc."""
    from pymatgen.core import Structure

    d = _as_dict(doc)
    out = d.get("output") or {}
    energy = out.get("energy")
    structure = out.get("structure") or d.get("structure")
    if energy is None or structure is None:
        raise ValueError("force-field task document lacks output.energy or output.structure")
    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    return float(energy), structure, d.get("forcefield_name")


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
    from genflow.workflows.relax import ENGINES

    if engine not in ENGINES:
        raise ValueError(f"mp_compatible_energy: unknown engine {engine!r}; choose from {ENGINES}")
    if engine == "vasp":
        entry = _vasp_entry(task_doc_or_entry)
        natoms = round(entry.composition.num_atoms)
        raw = entry.uncorrected_energy / natoms
        corrected, reason, scale, offsets = vasp_energy_on_mp_scale(entry)
        ok = reason is None
        formula = entry.composition.reduced_formula
    else:
        energy, structure, ff_name = _ff_energy(task_doc_or_entry)
        comp = structure.composition
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
