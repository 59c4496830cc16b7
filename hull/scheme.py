"""Energy scales: the one home of "put this energy on that hull's scale".

Everything that moves an energy onto the MP2020-corrected, MP-POTCAR scale of the bundled
hulls lives here, and every other module calls it:

- the MP U rule (:func:`mp_run_parameters`: run type and ``MPRelaxSet`` LDAUU values);
- MP2020 compatibility processing of raw MP snapshot energies (:func:`mp2020_corrections`),
  of raw-PBE force-field energies (:func:`mp2020_structure_energy`) and of VASP runs
  (:func:`vasp_energy_on_mp_scale`);
- POTCAR offsets between MP's legacy PBE POTCARs and GNoME's PBE_54 ones (Eq. PP,
  :data:`GNOME_PP_CORRECTIONS`, :func:`pp_offsets`, :func:`pp_offset_per_atom`,
  :func:`to_potcar_scale`), and which POTCAR release a VASP run used
  (:data:`NEWER_PAW_POTCARS`, :func:`pbe54_elements`).

MP2020 corrections for raw Materials Project GGA/GGA+U energies:

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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pymatgen.core import Composition

from genflow.core.chem import CompositionError, parse_composition
from genflow.core.progress import track

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.entries.computed_entries import ComputedEntry

__all__ = [
    "GNOME_PP_CORRECTIONS",
    "MP2020_ANION_ELEMENTS",
    "NEWER_PAW_POTCARS",
    "POTCAR_SCALES",
    "NewerPaw",
    "mp2020_corrections",
    "mp2020_structure_energy",
    "mp_run_parameters",
    "pbe54_elements",
    "pp_offset_per_atom",
    "pp_offsets",
    "raw_mp_entry",
    "to_potcar_scale",
    "vasp_energy_on_mp_scale",
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


class NewerPaw(NamedTuple):
    """One element whose PBE_54 POTCAR is newer than MP's but has the same symbol and valence."""

    symbol: str
    zval: int
    mp_titel: str  # legacy "PBE" set used by MPRelaxSet (POTCAR_FUNCTIONAL: PBE)
    new_titel: str  # "PBE_54" release
    functional: str = "PBE_54"


# Read from pymatgen's POTCAR summary stats (pymatgen/io/vasp/potcar-summary-stats.json.bz2):
# for each MP symbol the PBE_54 file has the same ZVAL but a newer TITEL date, so MP2020's
# symbol-based POTCAR check still accepts the energies. tests/workflows/test_powerups.py
# re-derives this table from that file. The TITELs tell which scale a VASP run is on
# (:func:`pbe54_elements`); ``workflows.powerups`` writes the PBE_54 ones into VASP inputs.
NEWER_PAW_POTCARS: dict[str, NewerPaw] = {
    "Li": NewerPaw("Li_sv", 3, "PAW_PBE Li_sv 23Jan2001", "PAW_PBE Li_sv 10Sep2004"),
    "Na": NewerPaw("Na_pv", 7, "PAW_PBE Na_pv 05Jan2001", "PAW_PBE Na_pv 19Sep2006"),
    "Mg": NewerPaw("Mg_pv", 8, "PAW_PBE Mg_pv 06Sep2000", "PAW_PBE Mg_pv 13Apr2007"),
    "Ge": NewerPaw("Ge_d", 14, "PAW_PBE Ge_d 06Sep2000", "PAW_PBE Ge_d 03Jul2007"),
    "Ga": NewerPaw("Ga_d", 13, "PAW_PBE Ga_d 06Sep2000", "PAW_PBE Ga_d 06Jul2010"),
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
    pairs = [(el.symbol, amt) for el, amt in comp.items()]
    wanted = set(GNOME_PP_CORRECTIONS if elements is None else elements)
    return {el: float(term) for el, term in _pp_terms(pairs, comp.num_atoms, wanted).items()}


def _pp_terms(pairs: Sequence[tuple[str, float]], total: float, wanted: set[str]) -> dict:
    """Eq. PP term c_el · δ_el of each wanted element with an offset (c_el = amount / total)."""
    return {
        el: amt / total * GNOME_PP_CORRECTIONS[el]
        for el, amt in pairs
        if el in wanted and el in GNOME_PP_CORRECTIONS
    }


def pp_offset_per_atom(compositions: Sequence[str]) -> np.ndarray:
    """Total GNoME POTCAR offset (Eq. PP, eV/atom) of each composition string.

    The fast-parser form of ``sum(pp_offsets(c).values())`` for whole hull files; NaN where a
    composition cannot be parsed (the ``ReferenceHull`` then skips the row and reports why).
    """
    out = np.zeros(len(compositions))
    for i, comp in enumerate(compositions):
        try:
            pairs = parse_composition(comp)
        except CompositionError:
            out[i] = np.nan
            continue
        total = sum(a for _, a in pairs)
        out[i] = sum(_pp_terms(pairs, total, set(GNOME_PP_CORRECTIONS)).values())
    return out


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


def mp2020_structure_energy(structure: Structure, energy_per_atom: float) -> tuple[float, float]:
    """(corrected, correction) eV/atom of a raw GGA/GGA+U energy of a structure, on MP2020.

    A ``ComputedStructureEntry`` with MP's run type and U values (:func:`mp_run_parameters`)
    through ``MaterialsProject2020Compatibility(check_potcar=False)``: the energy of a model
    fitted to raw PBE energies (SevenNet, MACE, ...), which has no POTCAR record.

    Raises
    ------
    ValueError
        When the compatibility scheme rejects the entry.
    """
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    comp = structure.composition
    natoms = len(structure)
    entry = ComputedStructureEntry(
        structure, energy_per_atom * natoms, parameters=mp_run_parameters(comp)
    )
    processed = MaterialsProject2020Compatibility(check_potcar=False).process_entries(
        [entry], inplace=False, on_error="ignore"
    )
    if not processed:
        raise ValueError(f"MaterialsProject2020Compatibility rejected {comp.reduced_formula}")
    corrected = processed[0].energy / natoms
    return float(corrected), float(corrected - energy_per_atom)


def pbe54_elements(entry: Any) -> tuple[list[str], list[str]]:
    """Elements of a VASP entry computed with PBE_54 POTCARs, and those with MP's.

    Read from the entry's POTCAR record (``parameters["potcar_spec"]`` TITELs, or
    ``potcar_symbols``) against :data:`NEWER_PAW_POTCARS`: only Ga, Ge, Li, Mg and Na
    differ between the two releases under the same symbol. Returns ``(pbe54, mp)`` lists of
    those five elements present in the entry; other elements are in neither.
    """
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


def vasp_energy_on_mp_scale(
    entry: ComputedEntry,
) -> tuple[float, str | None, str, dict[str, float]]:
    """A VASP entry's energy per atom on MP2020 and MP's POTCAR scale.

    ``MaterialsProject2020Compatibility(check_potcar=True)`` corrections, then the GNoME
    POTCAR offsets (Eq. PP) of the elements the run took from PBE_54 subtracted.

    Returns
    -------
    energy_per_atom : float
        eV/atom; the uncorrected energy (less the offsets) when MP2020 rejects the entry.
    reason : str or None
        Why MP2020 rejected the entry; None when it accepted it.
    potcar_scale : str
        ``"mp"``, ``"gnome"`` (every Ga/Ge/Li/Mg/Na POTCAR from PBE_54) or ``"mixed"``.
    pp_offsets : dict
        Element → offset subtracted (eV per atom of the compound); empty on ``"mp"``.
    """
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    natoms = round(entry.composition.num_atoms)
    processed = MaterialsProject2020Compatibility(check_potcar=True).process_entries(
        [entry.copy()], inplace=False, on_error="warn"
    )
    ok = bool(processed)
    corrected = processed[0].energy / natoms if ok else entry.uncorrected_energy / natoms
    reason = None if ok else "MaterialsProject2020Compatibility rejected the entry"
    # PBE_54 POTCARs of Ga/Ge/Li/Mg/Na → MP's POTCAR scale (GNoME's published offsets)
    pbe54, legacy = pbe54_elements(entry)
    scale = "mixed" if pbe54 and legacy else "gnome" if pbe54 else "mp"
    offsets = pp_offsets(entry.composition, pbe54) if pbe54 else {}
    return corrected - sum(offsets.values()), reason, scale, offsets
