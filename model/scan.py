"""Chemical-system scans: enumerate compositions and keep the SMACT-valid ones.

``enumerate_compositions("Ba-Ti-O", 4)`` walks every coefficient vector ``(n_Ba, n_Ti, n_O)``
with entries ``0…K``, keeps those that pass :func:`genflow.model.validity.smact_validity`
(charge neutrality with the Pauling electronegativity test, as CDVAE and Chemeleon do), and
collapses them to distinct reduced formulas (``Ba2Ti2O6`` and ``BaTiO3`` are one entry).

Choice: by default **every element of the system must be present** (coefficients ``1…K``),
as in chemical-system scans of CDVAE/Chemeleon-style evaluations: a ternary scan proposes
ternaries, and the binary/unary sub-systems are scans of their own. ``require_all=False``
allows zero coefficients (every non-empty sub-system, ``(K+1)^n − 1`` vectors).

:func:`sample_compositions` hands the survivors to composition-conditioned sampling through
``genflow.model.load_generator()`` (imported lazily, so a plain scan needs no JAX).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Composition

from genflow.core.chem import formula, parse_chemsys
from genflow.core.progress import track
from genflow.model.validity import smact_oxidation_states, smact_validity, uncommon_states

__all__ = ["ScanResult", "enumerate_compositions", "sample_compositions"]


@dataclass(frozen=True)
class ScanResult:
    """Outcome of a scan.

    Attributes
    ----------
    chemsys
        Elements of the system, sorted (:func:`genflow.core.chem.parse_chemsys`).
    max_coefficient
        K: largest coefficient tried per element.
    require_all
        Whether every element had to be present.
    enumerated
        Number of coefficient vectors tried.
    distinct
        Distinct reduced formulas among them.
    compositions
        Charge-neutral (SMACT-valid) distinct reduced compositions, sorted by atoms per formula
        unit then formula.
    oxidation_states
        Per composition, the states that made it neutral
        (:func:`~genflow.model.validity.smact_oxidation_states`: common ones preferred).
    oxidation_states_set
        The SMACT list the states came from (``smact14``: CDVAE's; ``icsd24``: SMACT's
        default, states seen in ICSD crystals).
    """

    chemsys: tuple[str, ...]
    max_coefficient: int
    require_all: bool
    enumerated: int
    distinct: int
    compositions: tuple[Composition, ...]
    oxidation_states: tuple[dict[str, int], ...] = ()
    oxidation_states_set: str = "smact14"

    @property
    def charge_neutral(self) -> int:
        """Number of distinct charge-neutral reduced formulas."""
        return len(self.compositions)

    @property
    def formulas(self) -> list[str]:
        """Reduced formulas of the survivors (e.g. ``"BaTiO3"``), spelled by
        :func:`genflow.core.chem.formula`."""
        return [formula(c) for c in self.compositions]

    def __iter__(self):
        return iter(self.compositions)

    def __len__(self) -> int:
        return len(self.compositions)

    @property
    def uncommon(self) -> dict[str, list[str]]:
        """{formula: elements} of survivors neutral only with a state outside SMACT's ICSD-24
        list (BaTiO needs Ti−1 in CDVAE's ``smact14`` list)."""
        out = {}
        for name, states in zip(self.formulas, self.oxidation_states, strict=True):
            if rare := uncommon_states(states):
                out[name] = rare
        return out

    def as_dict(self) -> dict:
        """JSON-ready summary (``enumerated``, ``charge_neutral``, ``compositions``, the
        ``oxidation_states`` of each, ...)."""
        return {
            "chemsys": "-".join(self.chemsys),
            "max_coefficient": self.max_coefficient,
            "require_all_elements": self.require_all,
            "enumerated": self.enumerated,
            "distinct_reduced": self.distinct,
            "charge_neutral": self.charge_neutral,
            "compositions": self.formulas,
            "oxidation_states_set": self.oxidation_states_set,
            "oxidation_states": dict(zip(self.formulas, self.oxidation_states, strict=True)),
            "uncommon_states": self.uncommon,
        }


def enumerate_compositions(
    chemsys: str | list[str] | tuple[str, ...],
    max_coefficient: int,
    *,
    require_all: bool = True,
    oxidation_states_set: str = "smact14",
) -> ScanResult:
    """Enumerate a chemical system's compositions and keep the SMACT-valid ones.

    Parameters
    ----------
    chemsys
        Elements, e.g. ``"Ba-Ti-O"``.
    max_coefficient
        K ≥ 1: coefficients run over ``0…K`` (``1…K`` when ``require_all``).
    require_all
        Every element present (default; see the module docstring).
    oxidation_states_set
        SMACT oxidation-state list passed to :func:`smact_validity`.

    Returns
    -------
    ScanResult
        Iterating it yields the surviving compositions.
    """
    elements = parse_chemsys(chemsys)
    if max_coefficient < 1:
        raise ValueError(f"max_coefficient must be >= 1, got {max_coefficient}")
    low = 1 if require_all else 0
    enumerated = 0
    reduced: dict[tuple[int, ...], Composition] = {}
    for coeffs in itertools.product(range(low, max_coefficient + 1), repeat=len(elements)):
        if not any(coeffs):
            continue
        enumerated += 1
        g = math.gcd(*coeffs)
        key = tuple(c // g for c in coeffs)
        if key not in reduced:
            reduced[key] = Composition({el: n for el, n in zip(elements, key, strict=True) if n})
    valid = [
        c for c in reduced.values() if smact_validity(c, oxidation_states_set=oxidation_states_set)
    ]
    valid.sort(key=lambda c: (c.num_atoms, formula(c)))
    # which states made each survivor neutral (searched only for the survivors)
    states = tuple(
        smact_oxidation_states(c, oxidation_states_set=oxidation_states_set) or {} for c in valid
    )
    return ScanResult(
        elements, max_coefficient, require_all, enumerated, len(reduced), tuple(valid), states,
        oxidation_states_set,
    )  # fmt: skip


def sample_compositions(
    formulas: list[str],
    n: int,
    *,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[dict], list[dict]]:
    """Sample ``n`` structures for each formula with the generator.

    Returns
    -------
    samples, errors
        ``samples``: ``{"composition", "index", "structure"}`` rows (``Structure.as_dict()``);
        ``errors``: ``{"composition", "error"}`` rows for formulas the generator refused
        (e.g. an element outside its table, or more atoms than its depth L). The other
        formulas go on.
    """
    from genflow.model import load_generator

    gen = load_generator(checkpoint)
    samples: list[dict] = []
    errors: list[dict] = []
    bar = track(formulas, "sampling compositions", enabled=progress, transient=True)
    for k, f in enumerate(bar):
        try:
            structures = gen.sample(n, composition=f, seed=seed + k)
        except ValueError as exc:  # incl. TooManyAtomsError / element not in table
            errors.append({"composition": f, "error": f"{type(exc).__name__}: {exc}"})
        else:
            samples += [
                {"composition": f, "index": i, "structure": s.as_dict()}
                for i, s in enumerate(structures)
            ]
    return samples, errors
