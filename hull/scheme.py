"""Energy scales: the one home of "put this energy on that hull's scale".

Everything that moves an energy onto the MP2020-corrected, MP-POTCAR scale of the bundled
hulls lives here, and every other module calls it:

- the MP U rule (:func:`mp_run_parameters`: run type and ``MPRelaxSet`` LDAUU values);
- MP2020 compatibility processing of raw MP snapshot energies (:func:`mp2020_corrections`,
  :func:`oxide_type_guess`, :func:`scale_flag`), of raw-PBE force-field energies
  (:func:`mp2020_structure_energy`) and of VASP runs (:func:`vasp_energy_on_mp_scale`);
- POTCAR offsets between MP's legacy PBE POTCARs and GNoME's PBE_54 ones (Eq. PP,
  :data:`GNOME_PP_CORRECTIONS`, :func:`pp_offsets`, :func:`pp_offset_per_atom`,
  :func:`to_potcar_scale`), and which POTCAR release a VASP run used
  (:data:`NEWER_PAW_POTCARS`, :func:`pbe54_elements`);
- formation energies back onto a hull's total-energy scale (:func:`energy_from_formation`,
  E = E_f + Σ_i x_i μ_i with the hull's own elemental references).

MP2020 corrections for raw MP energies. GNoME's MP snapshot stores *uncorrected* GGA/GGA+U
total energies as "Corrected Energy" (``tests/hull/test_hull_scheme.py``, against MP-20's
MP2020 formation energies; ``hull/data/README.md``), so the bundled reference is corrected
here with pymatgen's compatibility class. With compositions and energies only, each entry is
rebuilt as a ``ComputedEntry`` with MP's parameters:

- "GGA+U" with ``MPRelaxSet`` LDAUU values when the most electronegative element is O or F
  and a U element (Co, Cr, Fe, Mn, Mo, Ni, V, W) is present, "GGA" otherwise;
- POTCAR check off (no record; every MP entry used the ``MPRelaxSet`` POTCARs);
- no structure, so pymatgen's composition fallbacks decide peroxide/superoxide/ozonide
  (known formulas) and the anion oxidation states (``Composition.oxi_state_guesses``).
  MP decides both from structures, which is why a few per cent of compounds differ (mostly
  intermetallic Si/Sb/Te/N compounds). Where charge balance settles a peroxide/superoxide
  (LiO8, K3NbO8), :func:`oxide_type_guess` gives it instead of pymatgen's "oxide" fallback
  (up to 0.5 eV/atom too low); :func:`scale_flag` names what a composition cannot settle.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pymatgen.core import Composition, Element

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
    "energy_from_formation",
    "mp2020_corrections",
    "mp2020_structure_energy",
    "mp_run_parameters",
    "oxide_type_guess",
    "pbe54_elements",
    "pp_offset_per_atom",
    "pp_offsets",
    "raw_mp_entry",
    "scale_flag",
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
    composition: str | Composition,
    energy: float,
    entry_id: str | None = None,
    oxide_type: str | None = None,
) -> ComputedEntry:
    """A ``ComputedEntry`` for an uncorrected MP GGA/GGA+U total energy (eV per cell);
    ``oxide_type`` ("peroxide", ...) replaces pymatgen's formula-list fallback."""
    from pymatgen.entries.computed_entries import ComputedEntry

    comp = Composition(composition)
    data: dict[str, Any] = {"oxide_type": oxide_type} if oxide_type else {}
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
    oxide_types: Sequence[str | None] | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, list[str | None]]:
    """MP2020 energy corrections (eV per cell) for raw MP GGA/GGA+U total energies.

    Parameters
    ----------
    compositions : sequence
        Cell compositions (formulas or ``Composition``).
    energies : sequence of float
        Uncorrected total energies (eV per cell).
    oxide_types : sequence of str or None, optional
        Oxide type per entry (:func:`oxide_type_guess`); None keeps pymatgen's fallback.
    progress : bool
        Show a rich progress bar (the oxidation-state guesses take ~3 ms per entry).

    Returns
    -------
    corrections : np.ndarray
        Total correction per cell (eV); NaN where pymatgen refused the entry.
    errors : list of str or None
        pymatgen's reason for each refused entry (``CompatibilityError``), else None.
    """
    from pymatgen.entries.compatibility import CompatibilityError
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility as MP2020

    compat = MP2020(check_potcar=False)
    corrections = np.full(len(compositions), np.nan)
    errors: list[str | None] = [None] * len(compositions)
    rows = track(range(len(compositions)), "MP2020 corrections", enabled=progress)
    with warnings.catch_warnings():
        # Expected for composition-only entries: "no structure or oxide_type" and
        # "failed to guess oxidation states"; the fallbacks are documented above.
        warnings.simplefilter("ignore")
        for i in rows:
            ox_type = oxide_types[i] if oxide_types is not None else None
            try:
                entry = raw_mp_entry(compositions[i], float(energies[i]), oxide_type=ox_type)
                corrections[i] = sum(adj.value for adj in compat.get_adjustments(entry))
            except CompatibilityError as exc:
                errors[i] = str(exc)
    return corrections, errors


@cache
def _max_oxidation_state(symbol: str) -> float:
    """Highest oxidation state pymatgen knows for an element (F, above O: -1; none: 0)."""
    return -1.0 if symbol == "F" else float(max(Element(symbol).oxidation_states, default=0))


def _o_charge(pairs: Sequence[tuple[str, float]]) -> float | None:
    """Most negative O charge per O atom charge balance allows: -Σ n_i ox_i,max / n_O."""
    n_o = dict(pairs).get("O", 0.0)
    if not n_o or len(pairs) == 1:
        return None
    return -sum(amt * _max_oxidation_state(el) for el, amt in pairs if el != "O") / n_o


def oxide_type_guess(composition: str) -> str | None:
    """Peroxide/superoxide type of an O compound where charge balance settles it, else None.

    With every other element at its highest oxidation state, q = -1 per O leaves exactly
    O2²⁻ ("peroxide", K3NbO8) and -1 < q < 0 only O2⁻ or O2 ("superoxide", LiO8, BaO10):
    MP's structure analysis (``oxide_type``) finds these O-O bonds. q <= -2 is an oxide;
    -2 < q < -1 (NdO2, KCO3, PaO3: MP-20 shows MP calls the last two oxides) and q >= 0 are
    unsettled, left to pymatgen and flagged by :func:`scale_flag`.
    """
    q = _o_charge(parse_composition(composition))
    if q is None or not -1 - 1e-6 < q < 0:
        return None
    return "peroxide" if q <= -1 + 1e-6 else "superoxide"


def scale_flag(composition: str, oxide_type: str | None = None) -> str:
    """Why a composition-only MP2020 correction may differ from MP's structure-based one.

    ``""`` if nothing structure-dependent applies, else ``;``-joined reasons:
    ``oxide_type:<type>`` (:func:`oxide_type_guess`), ``oxide_type:unsettled`` (O must sit
    above -2, type unknown) and ``anion_guess:<El,...>`` (an MP2020 anion element that is not
    the most electronegative one: whether its correction applies rests on the oxidation
    states MP guessed from the structure; intermetallic Si/Sb/Te/N/H compounds).
    """
    pairs = parse_composition(composition)
    q = _o_charge(pairs)
    reasons = [f"oxide_type:{oxide_type}"] if oxide_type else []
    if not oxide_type and q is not None and q > -2 + 1e-6:
        reasons.append("oxide_type:unsettled")
    x = {el: Element(el).X for el, _ in pairs}
    top = max(x, key=lambda el: -math.inf if math.isnan(x[el]) else x[el])
    guessed = sorted(el for el in x if el in MP2020_ANION_ELEMENTS and el != top)
    if guessed:
        reasons.append("anion_guess:" + ",".join(guessed))
    return ";".join(reasons)


def energy_from_formation(
    compositions: Sequence[str], formation_energies: Sequence[float], mu: Mapping[str, float]
) -> np.ndarray:
    """Energies per atom on a hull's scale from formation energies: E = E_f + Σ_i x_i μ_i
    (eV/atom; μ_i: the hull's elemental references, which defined MP-20's MP2020 E_f for
    ``mp2021``, ``tests/hull/test_hull_scheme.py``). NaN where a μ is missing."""
    out = np.full(len(compositions), np.nan)
    for i, (comp, e_form) in enumerate(zip(compositions, formation_energies, strict=True)):
        pairs = parse_composition(comp)
        if all(el in mu for el, _ in pairs):
            total = sum(a for _, a in pairs)
            out[i] = float(e_form) + sum(a / total * mu[el] for el, a in pairs)
    return out


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
