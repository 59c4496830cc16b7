"""The paper's VASP settings as powerups on atomate2's MP GGA relax+static flow.

Yang et al. (2023) validate generated crystals with "MP-compatible" VASP settings, as GNoME
does, with three changes on top of atomate2's ``MPGGADoubleRelaxStaticMaker``:

- Γ-centred k-point grids for hexagonal cells (:func:`use_gamma_centred_kpoints`);
- ferromagnetic initial moments (:func:`use_ferromagnetic_moments`);
- the newer Li, Na, Mg, Ge and Ga PAW potentials, which keep the MP symbol and so the same
  number of valence electrons (:func:`use_newer_paw_potentials`, table
  :data:`genflow.hull.scheme.NEWER_PAW_POTCARS`).

Every powerup returns an edited deep copy (atomate2's convention) and leaves its input alone.
:func:`apply_paper_settings` composes them, and :func:`mp_compatibility_problems` lists the
edits that would stop MP2020 corrections from applying to a maker's energies.

>>> from atomate2.vasp.flows.mp import MPGGADoubleRelaxStaticMaker
>>> maker = apply_paper_settings(MPGGADoubleRelaxStaticMaker())
>>> mp_compatibility_problems(maker)
[]
"""

from __future__ import annotations

import dataclasses
from copy import deepcopy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atomate2.vasp.jobs.base import BaseVaspMaker
from atomate2.vasp.powerups import (
    update_user_incar_settings,
    update_vasp_input_generators,
)
from jobflow import Maker
from pymatgen.core.periodic_table import Element
from pymatgen.io.vasp.inputs import Potcar, PotcarSingle
from pymatgen.io.vasp.sets import MPRelaxSet, MPStaticSet

from genflow.hull.scheme import NEWER_PAW_POTCARS, NewerPaw

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MPRelaxSetNewerPAW",
    "MPStaticSetNewerPAW",
    "apply_paper_settings",
    "ferromagnetic_magmoms",
    "mp_compatibility_problems",
    "use_ferromagnetic_moments",
    "use_gamma_centred_kpoints",
    "use_newer_paw_potentials",
    "vasp_makers",
]


@dataclass
class _NewerPawMixin:
    """Take the POTCARs of some elements from another functional release.

    pymatgen reads every POTCAR of an input set from one functional directory; MP2020 needs
    the legacy ``PBE`` one, the paper wants five elements from ``PBE_54``.
    """

    potcar_functional_overrides: dict[str, str] = field(default_factory=dict)

    def potcar_sources(self) -> list[tuple[str, str, str]]:
        """Return ``(element, symbol, functional)`` for each POTCAR, in POSCAR order."""
        elements = self.poscar.site_symbols  # type: ignore[attr-defined]
        default = self.user_potcar_functional  # type: ignore[attr-defined]
        return [
            (el, sym, self.potcar_functional_overrides.get(el, default))
            for el, sym in zip(elements, self.potcar_symbols, strict=True)  # type: ignore[attr-defined]
        ]

    @property
    def potcar(self) -> Potcar:
        """The POTCAR, each element from its own functional release."""
        if self.structure is None:  # type: ignore[attr-defined]
            raise RuntimeError("No structure is associated with the input set!")
        potcar = Potcar(functional=self.user_potcar_functional)  # type: ignore[attr-defined]
        potcar.extend(
            PotcarSingle.from_symbol_and_functional(sym, functional)
            for _, sym, functional in self.potcar_sources()
        )
        return potcar


@dataclass
class MPRelaxSetNewerPAW(_NewerPawMixin, MPRelaxSet):
    """``MPRelaxSet`` with per-element POTCAR releases (``potcar_functional_overrides``)."""


@dataclass
class MPStaticSetNewerPAW(_NewerPawMixin, MPStaticSet):
    """``MPStaticSet`` with per-element POTCAR releases (``potcar_functional_overrides``)."""


_NEWER_PAW_CLASSES: dict[type, type] = {
    MPRelaxSet: MPRelaxSetNewerPAW,
    MPStaticSet: MPStaticSetNewerPAW,
}


def vasp_makers(maker: Maker) -> Iterator[tuple[Maker, str, BaseVaspMaker]]:
    """Yield ``(parent, field_name, vasp_maker)`` for every VASP job maker, in run order.

    Flow makers keep their job makers as dataclass fields (atomate2's habit), so field order
    is run order: ``relax_maker1``, ``relax_maker2``, then ``static_maker``.
    """
    for f in dataclasses.fields(maker):
        value = getattr(maker, f.name)
        if isinstance(value, BaseVaspMaker):
            yield maker, f.name, value
        elif isinstance(value, Maker):
            yield from vasp_makers(value)


def _check_maker(flow: Any, powerup: str) -> Maker:
    if not isinstance(flow, Maker):
        raise TypeError(f"{powerup}: expected a jobflow Maker, got {type(flow).__name__}")
    return flow


def use_newer_paw_potentials(
    flow: Maker, potcars: dict[str, NewerPaw] | None = None, name_filter: str | None = None
) -> Maker:
    """Take Li, Na, Mg, Ge and Ga POTCARs from the PBE_54 release (same symbols and valence).

    Parameters
    ----------
    flow
        A Maker (a flow maker or a VASP job maker).
    potcars
        Element -> :class:`NewerPaw`; defaults to :data:`NEWER_PAW_POTCARS`.
    name_filter
        Only edit VASP makers whose name contains this string.

    Returns
    -------
    Maker
        An edited deep copy: each matching maker's MPRelaxSet/MPStaticSet becomes the
        ``...NewerPAW`` subclass with the same settings.
    """
    potcars = NEWER_PAW_POTCARS if potcars is None else potcars
    new = deepcopy(_check_maker(flow, "use_newer_paw_potentials"))
    overrides = {el: p.functional for el, p in potcars.items()}
    targets = [new] if isinstance(new, BaseVaspMaker) else [m for _, _, m in vasp_makers(new)]
    for vasp_maker in targets:
        if name_filter is not None and name_filter not in vasp_maker.name:
            continue
        gen = vasp_maker.input_set_generator
        cls = next((c for base, c in _NEWER_PAW_CLASSES.items() if type(gen) is base), None)
        if isinstance(gen, _NewerPawMixin):
            cls = type(gen)
        if cls is None:
            raise TypeError(
                f"use_newer_paw_potentials: maker {vasp_maker.name!r} uses "
                f"{type(gen).__name__}; only MPRelaxSet and MPStaticSet are supported"
            )
        kwargs = {f.name: getattr(gen, f.name) for f in dataclasses.fields(gen) if f.init}
        kwargs["potcar_functional_overrides"] = {
            **getattr(gen, "potcar_functional_overrides", {}),
            **overrides,
        }
        vasp_maker.input_set_generator = cls(**kwargs)
    return new


def use_gamma_centred_kpoints(
    flow: Maker, hexagonal_only: bool = False, name_filter: str | None = None
) -> Maker:
    """Make k-point grids Γ-centred: always, or (``hexagonal_only``) at least for hexagonal cells.

    ``force_gamma=True`` centres every grid at Γ, which includes hexagonal cells (Monkhorst-Pack
    grids break their six-fold symmetry). ``hexagonal_only=True`` uses pymatgen's automatic
    scheme instead: Γ for hexagonal, face-centred and odd grids, Monkhorst-Pack otherwise.
    """
    return update_vasp_input_generators(
        _check_maker(flow, "use_gamma_centred_kpoints"),
        {"input_set_generator->force_gamma": not hexagonal_only},
        name_filter=name_filter,
    )


def ferromagnetic_magmoms(default: float = 0.6) -> dict[str, float]:
    """Return a positive initial moment for every element and MP's ionic species (μB).

    Values are MP's (``VASPIncarBase.yaml``), ``default`` for the rest; all are positive, so
    every calculation starts ferromagnetic.
    """
    mp = MPRelaxSet.CONFIG["INCAR"]["MAGMOM"]
    moments = {el.symbol: abs(float(mp.get(el.symbol, default))) for el in Element}
    moments.update({sp: abs(float(m)) for sp, m in mp.items()})
    return moments


def use_ferromagnetic_moments(
    flow: Maker, first_only: bool = True, default: float = 0.6, name_filter: str | None = None
) -> Maker:
    """Start from ferromagnetic moments (ISPIN=2, all MAGMOM positive).

    A per-species ``MAGMOM`` dict in ``user_incar_settings`` overrides moments carried by the
    structure, so a structure that arrives with antiparallel moments still starts
    ferromagnetic. With ``first_only`` (default) only the first VASP job is edited: later
    jobs start from the moments the previous job converged to, as in MP's workflow.
    """
    flow = _check_maker(flow, "use_ferromagnetic_moments")
    updates = {"ISPIN": 2, "MAGMOM": ferromagnetic_magmoms(default)}
    if isinstance(flow, BaseVaspMaker) or not first_only:
        return update_user_incar_settings(flow, updates, name_filter=name_filter)
    new = deepcopy(flow)
    for parent, name, vasp_maker in vasp_makers(new):
        if name_filter is None or name_filter in vasp_maker.name:
            setattr(parent, name, update_user_incar_settings(vasp_maker, updates))
            break
    return new


def apply_paper_settings(flow: Maker) -> Maker:
    """Apply the paper's settings: Γ-centred grids, ferromagnetic start, newer PAW potentials."""
    flow = use_gamma_centred_kpoints(flow)
    flow = use_ferromagnetic_moments(flow)
    return use_newer_paw_potentials(flow)


# INCAR keys MP2020 corrections depend on (functional, +U, cutoff, PAW treatment).
_MP_FIXED_INCAR = (
    "ENCUT",
    "GGA",
    "METAGGA",
    "LDAU",
    "LDAUU",
    "LDAUJ",
    "LDAUL",
    "LDAUTYPE",
    "LASPH",
)


def mp_compatibility_problems(flow: Maker) -> list[str]:
    """Return why energies of ``flow`` would not be MP2020-compatible (empty list if they are).

    Checks each VASP maker's input set: an MP GGA set, the legacy ``PBE`` POTCAR release
    (per-element overrides are allowed only where they keep MP's symbol), MP's POTCAR
    symbols, and no user change to the INCAR keys the corrections depend on.
    """
    problems: list[str] = []
    targets = [("", "", flow)] if isinstance(flow, BaseVaspMaker) else list(vasp_makers(flow))
    for _, _, vasp_maker in targets:
        gen = vasp_maker.input_set_generator
        where = f"maker {vasp_maker.name!r}"
        if not isinstance(gen, MPRelaxSet | MPStaticSet):
            problems.append(f"{where}: {type(gen).__name__} is not an MP GGA input set")
            continue
        if gen.user_potcar_functional not in (None, "PBE"):
            problems.append(f"{where}: POTCAR functional {gen.user_potcar_functional} != PBE")
        mp_potcars = MPRelaxSet.CONFIG["POTCAR"]
        for el, sym in (gen.user_potcar_settings or {}).items():
            if mp_potcars.get(el) != sym:
                problems.append(
                    f"{where}: POTCAR {el}={sym} differs from MP's {mp_potcars.get(el)}"
                )
        for el in getattr(gen, "potcar_functional_overrides", {}):
            if el not in NEWER_PAW_POTCARS:
                problems.append(f"{where}: POTCAR release of {el} overridden")
        changed = sorted(set(gen.user_incar_settings or {}) & set(_MP_FIXED_INCAR))
        if changed:
            problems.append(f"{where}: user INCAR changes {', '.join(changed)}")
    return problems
