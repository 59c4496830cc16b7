"""Validity of generated crystals: structure sanity and SMACT composition validity.

* :func:`structure_validity` — the CDVAE structural check (no two atoms closer than 0.5 Å,
  periodic images included) plus cell sanity (finite parameters, sane lengths and angles,
  positive volume per atom, no NaN coordinates).
* :func:`smact_validity` — CDVAE's ``smact_validity`` (``scripts/eval_utils.py``): a
  composition is valid if some combination of oxidation states is charge neutral at its
  (gcd-reduced) stoichiometry and passes the Pauling electronegativity test (cations less
  electronegative than anions); single elements and all-metal alloys are valid outright.

Matching CDVAE with the installed SMACT 4: CDVAE ran on SMACT 2.x, whose default
``Element.oxidation_states`` is today's ``oxidation_states_smact14`` (SMACT 4 defaults to an
ICSD-24 filtered list); and SMACT 2's electronegativity test raised ``TypeError`` when it had to
compare a missing Pauling value (He, Ne, Ar, Pm, Rn, Lr), which CDVAE caught and counted as a
pass, while SMACT 4 counts a missing value as a fail. This module reproduces the CDVAE
behaviour with SMACT's data and ``neutral_ratios``; ``oxidation_states_set`` selects another
SMACT list.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Structure

__all__ = [
    "ValidityRecord",
    "ValidityReport",
    "cdvae_structure_validity",
    "smact_oxidation_states",
    "smact_validity",
    "structure_validity",
    "uncommon_states",
    "validity_report",
]


def _shortest_lattice_vector(matrix: np.ndarray) -> float:
    """Length of the shortest non-zero lattice vector (an atom's distance to its own image)."""
    from pymatgen.core import Lattice

    reduced = Lattice(matrix).get_lll_reduced_lattice().matrix
    combos = np.array([c for c in itertools.product((-1, 0, 1), repeat=3) if any(c)])
    return float(np.linalg.norm(combos @ reduced, axis=1).min())


def structure_validity(
    structure: Structure,
    min_distance: float = 0.5,
    *,
    length_range: tuple[float, float] = (0.5, 1000.0),
    angle_range: tuple[float, float] = (0.0, 180.0),
    min_volume_per_atom: float = 0.1,
) -> tuple[bool, str | None]:
    """Check that a crystal is physically sane.

    Parameters
    ----------
    structure
        Candidate crystal.
    min_distance
        Smallest allowed interatomic distance in Å, periodic images included (CDVAE: 0.5).
    length_range
        Allowed lattice lengths a, b, c in Å.
    angle_range
        Open interval of allowed lattice angles α, β, γ in degrees. The default only excludes
        degenerate angles: real primitive rhombohedral cells in MP-20 have angles near 7°, so a
        narrower default would reject known crystals; an impossible angle triple is caught by the
        volume check.
    min_volume_per_atom
        Smallest allowed cell volume per atom in Å³.

    Returns
    -------
    tuple[bool, str | None]
        ``(True, None)`` if valid, else ``(False, reason)`` naming the first failed check.
    """
    n = len(structure)
    if n == 0:
        return False, "no atoms"
    lat = structure.lattice
    params = np.array([*lat.abc, *lat.angles], dtype=float)
    if not np.all(np.isfinite(lat.matrix)) or not np.all(np.isfinite(params)):
        return False, f"non-finite lattice (a b c α β γ = {np.round(params, 3).tolist()})"
    lo, hi = length_range
    if params[:3].min() < lo or params[:3].max() > hi:
        return False, f"lattice length outside [{lo}, {hi}] Å: {np.round(params[:3], 3).tolist()}"
    lo, hi = angle_range
    if params[3:].min() <= lo or params[3:].max() >= hi:
        return False, f"lattice angle outside ({lo}, {hi})°: {np.round(params[3:], 2).tolist()}"
    volume = lat.volume
    if not math.isfinite(volume) or volume / n < min_volume_per_atom:
        return False, f"volume {volume:.3g} Å³ for {n} atoms is below {min_volume_per_atom} Å³/atom"
    if not np.all(np.isfinite(structure.frac_coords)):
        return False, "NaN or infinite fractional coordinates"
    self_image = _shortest_lattice_vector(lat.matrix)
    if self_image < min_distance:
        return (
            False,
            f"atom closer than {min_distance} Å to its own periodic image ({self_image:.3f} Å)",
        )
    if n > 1:
        dist = structure.distance_matrix  # minimum-image distances between distinct sites
        np.fill_diagonal(dist, np.inf)
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        if dist[i, j] < min_distance:
            return False, (
                f"min distance {dist[i, j]:.3f} Å < {min_distance} Å between sites {i} "
                f"({structure[i].specie}) and {j} ({structure[j].specie})"
            )
    return True, None


def cdvae_structure_validity(structure: Structure, cutoff: float = 0.5) -> bool:
    """CDVAE's structural validity exactly (``scripts/eval_utils.py::structure_validity``).

    Valid when every minimum-image distance between two distinct sites is at least ``cutoff``
    (Å) and the cell volume is at least 0.1 Å³. Unlike :func:`structure_validity` it does not
    check an atom against its own periodic image nor the cell's shape; use it where numbers
    must compare with published CDVAE/DiffCSP/UniMat tables.
    """
    if len(structure) == 0 or not np.all(np.isfinite(structure.lattice.matrix)):
        return False
    if not structure.volume >= 0.1:
        return False
    if len(structure) == 1:
        return True
    dist = structure.distance_matrix + np.eye(len(structure)) * (cutoff + 10.0)
    return bool(dist.min() >= cutoff)


@functools.lru_cache(maxsize=256)
def _smact_data(symbol: str, ox_set: str) -> tuple[tuple[int, ...], float | None] | None:
    """(oxidation states, Pauling electronegativity) of an element, or None if SMACT lacks it."""
    import smact

    try:
        el = smact.Element(symbol)
    except (KeyError, NameError):
        return None
    states = getattr(el, f"oxidation_states_{ox_set}", None)
    return tuple(states or ()), el.pauling_eneg


def _pauling_ok_cdvae(ox_states: Sequence[int], enegs: Sequence[float | None]) -> bool:
    """SMACT 2 ``eneg_states_test`` as CDVAE called it: a comparison with a missing
    electronegativity raised ``TypeError``, which CDVAE treated as a pass."""
    for (ox1, e1), (ox2, e2) in itertools.combinations(zip(ox_states, enegs, strict=True), 2):
        if ox1 > 0 and ox2 < 0:
            if e1 is None or e2 is None:
                return True
            if e1 >= e2:
                return False
        elif ox1 < 0 and ox2 > 0:
            if e1 is None or e2 is None:
                return True
            if e1 <= e2:
                return False
    return True


def smact_validity(
    composition: Composition | str | dict,
    *,
    use_pauling_test: bool = True,
    include_alloys: bool = True,
    oxidation_states_set: str = "smact14",
    max_combinations: int = 1_000_000,
) -> bool:
    """CDVAE's SMACT composition validity (charge neutrality + Pauling electronegativity).

    Parameters
    ----------
    composition
        Composition with integer amounts (``"BaTiO3"``, ``Composition``, or a dict).
    use_pauling_test
        Require cations to be less electronegative than anions (CDVAE: True).
    include_alloys
        Count compositions made only of SMACT metals as valid (CDVAE: True).
    oxidation_states_set
        SMACT list: ``"smact14"`` (CDVAE's), ``"icsd16"``, ``"icsd24"``, ``"sp"``, ``"wiki"``.
    max_combinations
        CDVAE's search enumerates every combination of oxidation states, which grows
        exponentially with the number of elements (a poorly trained generator emits 40-element
        "crystals" and the search never ends). A composition with more combinations than this
        (about 10 elements) is counted as invalid instead of hanging the gate.

    Returns
    -------
    bool
        False also for elements SMACT has no oxidation states for (e.g. He, Ne, Ar).
    """
    combos = _neutral_combinations(
        composition, use_pauling_test, include_alloys, oxidation_states_set, max_combinations
    )
    return next(combos, None) is not None


def smact_oxidation_states(
    composition: Composition | str | dict,
    *,
    use_pauling_test: bool = True,
    include_alloys: bool = True,
    oxidation_states_set: str = "smact14",
    max_combinations: int = 1_000_000,
) -> dict[str, int] | None:
    """Oxidation states that make ``composition`` pass :func:`smact_validity`, or None.

    Of the charge-neutral combinations that pass the electronegativity test, the one with the
    fewest states outside SMACT's ICSD-24 list (the states seen in real crystals), first in
    SMACT's order among equals. BaTiO passes CDVAE's ``smact14`` list only as Ba+2 Ti−1 O−1
    (Ti−1, O−1 are in ``smact14``, not in ICSD-24). ``{}``: valid without charges (a single
    element, or an all-metal alloy with ``include_alloys``). Parameters as
    :func:`smact_validity`.

    >>> smact_oxidation_states("BaTiO3")
    {'Ba': 2, 'Ti': 4, 'O': -2}
    >>> smact_oxidation_states("BaTiO")
    {'Ba': 2, 'Ti': -1, 'O': -1}
    >>> smact_oxidation_states("BaTiO", oxidation_states_set="icsd24") is None
    True
    """
    combos = _neutral_combinations(
        composition, use_pauling_test, include_alloys, oxidation_states_set, max_combinations
    )
    return min(combos, key=lambda states: len(uncommon_states(states)), default=None)


def uncommon_states(states: dict[str, int]) -> list[str]:
    """The elements of ``states`` whose state is not in SMACT's ICSD-24 list (e.g. Ti−1)."""
    out = []
    for symbol, ox in states.items():
        data = _smact_data(symbol, "icsd24")
        if data is None or ox not in data[0]:
            out.append(symbol)
    return out


def _neutral_combinations(
    composition: Composition | str | dict,
    use_pauling_test: bool,
    include_alloys: bool,
    oxidation_states_set: str,
    max_combinations: int,
) -> Iterator[dict[str, int]]:
    """Every passing oxidation-state combination, in SMACT's order (:func:`smact_validity`)."""
    import smact
    from smact import neutral_ratios

    comp = composition if isinstance(composition, Composition) else Composition(composition)
    amounts = comp.get_el_amt_dict()
    if not amounts:
        raise ValueError("smact_validity: empty composition")
    counts = []
    for el, amt in amounts.items():
        if amt <= 0 or abs(amt - round(amt)) > 1e-6:
            raise ValueError(f"smact_validity: {comp.formula} has non-integer amount {amt} of {el}")
        counts.append(round(amt))
    symbols = tuple(amounts)
    if len(symbols) == 1 or (include_alloys and all(s in smact.metals for s in symbols)):
        yield {}
        return
    data = [_smact_data(s, oxidation_states_set) for s in symbols]
    if any(d is None or not d[0] for d in data):
        return
    if math.prod(len(d[0]) for d in data) > max_combinations:
        return
    g = math.gcd(*counts)
    stoichs = [(c // g,) for c in counts]
    threshold = max(c // g for c in counts)
    enegs = [d[1] for d in data]
    for ox_states in itertools.product(*(d[0] for d in data)):
        if neutral_ratios(ox_states, stoichs=stoichs, threshold=threshold) and (
            not use_pauling_test or _pauling_ok_cdvae(ox_states, enegs)
        ):
            yield dict(zip(symbols, ox_states, strict=True))


@dataclass(frozen=True)
class ValidityRecord:
    """Validity of one generated structure (``structure_ok`` False with a reason if missing)."""

    index: int
    formula: str | None
    structure_ok: bool
    structure_reason: str | None
    composition_ok: bool

    @property
    def ok(self) -> bool:
        """Both checks pass."""
        return self.structure_ok and self.composition_ok


@dataclass(frozen=True)
class ValidityReport:
    """Per-row records and the fractions CDVAE reports (failed rows count as invalid)."""

    records: tuple[ValidityRecord, ...]

    def _frac(self, attr: str) -> float:
        if not self.records:
            return float("nan")
        return sum(bool(getattr(r, attr)) for r in self.records) / len(self.records)

    @property
    def structure_fraction(self) -> float:
        """Fraction passing :func:`structure_validity`."""
        return self._frac("structure_ok")

    @property
    def composition_fraction(self) -> float:
        """Fraction passing :func:`smact_validity`."""
        return self._frac("composition_ok")

    @property
    def overall_fraction(self) -> float:
        """Fraction passing both."""
        return self._frac("ok")

    def as_dict(self) -> dict[str, float | int]:
        """Summary numbers for JSON output."""
        return {
            "n": len(self.records),
            "structure_validity": self.structure_fraction,
            "composition_validity": self.composition_fraction,
            "overall_validity": self.overall_fraction,
        }


def validity_report(
    structures: Sequence[Structure | None], min_distance: float = 0.5
) -> ValidityReport:
    """Check a batch; ``None`` entries (e.g. samples that failed to decode) count as invalid."""
    records = []
    for i, s in enumerate(structures):
        if s is None:
            records.append(ValidityRecord(i, None, False, "no structure (decode failed)", False))
            continue
        ok, reason = structure_validity(s, min_distance)
        try:
            comp_ok = smact_validity(s.composition) if len(s) else False
        except ValueError:
            comp_ok = False
        formula = s.composition.reduced_formula if len(s) else ""
        records.append(ValidityRecord(i, formula, ok, reason, comp_ok))
    return ValidityReport(tuple(records))
