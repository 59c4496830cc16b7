"""Energy schemes: MP2020 corrections for raw Materials Project GGA/GGA+U energies.

Candidates arrive MP2020-compatible (VASP runs processed by pymatgen's
``MaterialsProject2020Compatibility``; CHGNet energies are trained in that scheme). GNoME's
Materials Project snapshot stores *uncorrected* GGA/GGA+U total energies under the name
"Corrected Energy" (established by ``tests/hull/test_scheme.py`` against MP-20's
MP2020-corrected formation energies; see ``hull/data/README.md``), so the bundled reference
is corrected here, with pymatgen's own compatibility class, before it is used.

The snapshot has compositions and energies only, so each entry is rebuilt as a pymatgen
``ComputedEntry`` with the parameters MP's calculations had:

- ``run_type`` "GGA+U" and ``hubbards`` = ``MPRelaxSet`` LDAUU values when the most
  electronegative element is O or F and a U element (Co, Cr, Fe, Mn, Mo, Ni, V, W) is present
  (how MP input sets choose +U); "GGA" with no U otherwise;
- no POTCAR record exists, so the POTCAR check is disabled (``check_potcar=False``): every MP
  entry was computed with the ``MPRelaxSet`` POTCARs;
- no structure, so pymatgen's composition fallbacks decide peroxide/superoxide/ozonide
  (known formulas) and the anion oxidation states (``Composition.oxi_state_guesses``).
  MP decides both from structures, which is why a few per cent of compounds differ (mostly
  intermetallic Si/Sb/Te/N compounds; measured in the scheme test).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Composition

from genflow.core.progress import track

if TYPE_CHECKING:
    from pymatgen.entries.computed_entries import ComputedEntry

__all__ = [
    "GNOME_PP_CORRECTIONS",
    "MP2020_ANION_ELEMENTS",
    "POTCAR_SCALES",
    "mp2020_corrections",
    "mp_run_parameters",
    "pp_offsets",
    "raw_mp_entry",
    "to_potcar_scale",
]

#: Elements whose MP2020 anion correction depends on a guessed oxidation state.
MP2020_ANION_ELEMENTS = frozenset({"Br", "I", "Se", "Si", "Sb", "Te", "H", "N", "F", "Cl"})

#: GNoME's per-atom pseudopotential corrections (eV/atom of the element) that map Materials
#: Project energies onto GNoME's POTCAR choice for Ga, Ge, Li, Mg, Na (GNoME DATASET.md,
#: "Convex Hull"). genflow applies them in reverse to put GNoME entries on MP's POTCARs.
GNOME_PP_CORRECTIONS: dict[str, float] = {
    "Ga": -0.0028805,
    "Ge": 0.10417085,
    "Li": -0.00301278,
    "Mg": 0.0924014,
    "Na": -0.00447437,
}


#: POTCAR scales an energy can be on: ``"mp"`` (MPRelaxSet's legacy PBE POTCARs, the scale of
#: every bundled hull and of CHGNet) and ``"gnome"`` (GNoME's PBE_54 POTCARs of Ga, Ge, Li, Mg,
#: Na; the two differ by ``GNOME_PP_CORRECTIONS``).
POTCAR_SCALES = ("mp", "gnome")


def pp_offsets(
    composition: str | Composition | dict, elements: Sequence[str] | None = None
) -> dict[str, float]:
    r"""GNoME POTCAR offset of each element of a composition, in eV per atom of the compound.

    An energy on GNoME's POTCAR scale and the same energy on MP's differ by::

        E_gnome(x) - E_mp(x) = Σ_el c_el · δ_el                                    (PP)

    with c_el the atom fraction of element el and δ_el = ``GNOME_PP_CORRECTIONS[el]``.

    Parameters
    ----------
    composition
        Formula, ``Composition`` or element → amount mapping.
    elements
        Only these elements (e.g. those a VASP run took from PBE_54); default all five.

    Returns
    -------
    dict
        Element → c_el · δ_el (eV/atom of the compound); elements without an offset left out.
    """
    comp = Composition(composition)
    total = comp.num_atoms
    wanted = set(GNOME_PP_CORRECTIONS if elements is None else elements)
    return {
        el.symbol: float(amt / total * GNOME_PP_CORRECTIONS[el.symbol])
        for el, amt in comp.items()
        if el.symbol in wanted and el.symbol in GNOME_PP_CORRECTIONS
    }


def to_potcar_scale(
    energy_per_atom: float, composition: str | Composition | dict, scale: str
) -> float:
    """Move an MP-scale energy per atom (eV/atom) onto ``scale`` (Eq. PP; ``"mp"``: unchanged).

    Raises
    ------
    ValueError
        For a scale not in :data:`POTCAR_SCALES`.
    """
    if scale not in POTCAR_SCALES:
        raise ValueError(f"unknown POTCAR scale {scale!r}; choose from {POTCAR_SCALES}")
    if scale == "mp":
        return float(energy_per_atom)
    return float(energy_per_atom) + sum(pp_offsets(composition).values())


@cache
def _ldauu() -> dict[str, dict[str, float]]:
    """MPRelaxSet's U values keyed by anion (imported lazily: pymatgen.io.vasp is slow)."""
    from pymatgen.io.vasp.sets import MPRelaxSet

    return MPRelaxSet.CONFIG["INCAR"]["LDAUU"]


def mp_run_parameters(composition: Composition) -> dict:
    """Run parameters MP used for a composition: run type and Hubbard U values.

    Parameters
    ----------
    composition : Composition
        Composition of the entry.

    Returns
    -------
    dict
        ``run_type`` ("GGA" or "GGA+U"), ``is_hubbard`` and ``hubbards`` (element → U, eV),
        following ``MPRelaxSet``: U is keyed by the most electronegative element (O or F).
    """
    # Noble gases have no Pauling electronegativity (NaN); they never carry U or anion roles.
    anion = max(composition.elements, key=lambda el: -math.inf if math.isnan(el.X) else el.X).symbol
    u_values = _ldauu().get(anion, {})
    hubbards = {
        el.symbol: float(u_values[el.symbol])
        for el in composition.elements
        if el.symbol in u_values
    }
    return {
        "run_type": "GGA+U" if hubbards else "GGA",
        "is_hubbard": bool(hubbards),
        "hubbards": hubbards,
    }


def raw_mp_entry(
    composition: str | Composition, energy: float, entry_id: str | None = None
) -> ComputedEntry:
    """A ``ComputedEntry`` for an uncorrected MP GGA/GGA+U total energy (eV per cell)."""
    from pymatgen.entries.computed_entries import ComputedEntry

    comp = Composition(composition)
    data = {}
    if not MP2020_ANION_ELEMENTS.intersection(el.symbol for el in comp.elements):
        # No anion correction can apply, so skip pymatgen's (slow) oxidation-state guess.
        data["oxidation_states"] = {}
    return ComputedEntry(
        comp, energy, parameters=mp_run_parameters(comp), data=data, entry_id=entry_id
    )


def mp2020_corrections(
    compositions: Sequence[str | Composition],
    energies: Sequence[float],
    *,
    progress: bool = False,
) -> tuple[np.ndarray, list[str | None]]:
    """MP2020 energy corrections (eV per cell) for raw MP GGA/GGA+U total energies.

    Parameters
    ----------
    compositions : sequence
        Cell compositions (formulas or ``Composition``).
    energies : sequence of float
        Uncorrected total energies (eV per cell).
    progress : bool
        Show a rich progress bar (the oxidation-state guesses take ~3 ms per entry).

    Returns
    -------
    corrections : np.ndarray
        Total correction per cell (eV); NaN where pymatgen refused the entry.
    errors : list of str or None
        pymatgen's reason for each refused entry (``CompatibilityError``), else None.
    """
    from pymatgen.entries.compatibility import (
        CompatibilityError,
        MaterialsProject2020Compatibility,
    )

    compat = MaterialsProject2020Compatibility(check_potcar=False)
    corrections = np.full(len(compositions), np.nan)
    errors: list[str | None] = [None] * len(compositions)
    rows = track(range(len(compositions)), "MP2020 corrections", enabled=progress)
    with warnings.catch_warnings():
        # Expected for composition-only entries: "no structure or oxide_type" and
        # "failed to guess oxidation states"; the fallbacks are documented above.
        warnings.simplefilter("ignore")
        for i in rows:
            try:
                entry = raw_mp_entry(compositions[i], float(energies[i]))
                corrections[i] = sum(adj.value for adj in compat.get_adjustments(entry))
            except CompatibilityError as exc:
                errors[i] = str(exc)
    return corrections, errors
