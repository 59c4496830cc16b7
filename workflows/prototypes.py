"""Prototype decorations of charge-neutral binaries (and ABX3 perovskites) a hull lacks.

Hand-built from space groups with pymatgen (``Structure.from_spacegroup``), no downloads: the
structure types a missing simple compound most likely takes. Each is scaled so its shortest
cation-anion distance is the sum of the Shannon radii of the assigned oxidation states (atomic
radii when unknown) and is then relaxed by the audit's engine, so the guess only has to be close.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from math import gcd
from typing import TYPE_CHECKING

from pymatgen.core import Element, Lattice, Species, Structure

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Decoration", "charge_neutral_binaries", "decorations"]


@dataclass(frozen=True)
class Decoration:
    """One prototype decorated with elements: ``name`` like ``"MgO rocksalt"``."""

    name: str
    formula: str
    prototype: str
    structure: Structure


def _cubic(sg: str, a: str, b: str, pa: list, pb: list) -> Callable[[], Structure]:
    return lambda: Structure.from_spacegroup(sg, Lattice.cubic(1.0), [a, b], [pa, pb])


# (cation count, anion count) → prototype name → structure builder at unit scale
def _builders(cat: str, an: str) -> dict[tuple[int, int], dict[str, Callable[[], Structure]]]:
    hexa = Lattice.hexagonal
    return {
        (1, 1): {
            "rocksalt": _cubic("Fm-3m", cat, an, [0, 0, 0], [0.5, 0.5, 0.5]),
            "CsCl": _cubic("Pm-3m", cat, an, [0, 0, 0], [0.5, 0.5, 0.5]),
            "zincblende": _cubic("F-43m", cat, an, [0, 0, 0], [0.25, 0.25, 0.25]),
            "wurtzite": lambda: Structure.from_spacegroup(
                "P6_3mc", hexa(1.0, 1.633), [cat, an], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.375]]
            ),
        },
        (1, 2): {
            "fluorite": _cubic("Fm-3m", cat, an, [0, 0, 0], [0.25, 0.25, 0.25]),
            "rutile": lambda: Structure.from_spacegroup(
                "P4_2/mnm",
                Lattice.tetragonal(1.0, 0.644),
                [cat, an],
                [[0, 0, 0], [0.305, 0.305, 0]],
            ),
        },
        (2, 1): {"antifluorite": _cubic("Fm-3m", an, cat, [0, 0, 0], [0.25, 0.25, 0.25])},
        (2, 3): {
            "corundum": lambda: Structure.from_spacegroup(
                "R-3c", hexa(1.0, 2.73), [cat, an], [[0, 0, 0.3523], [0.3064, 0, 0.25]]
            )
        },
    }


def _radius(el: str, ox: int) -> float:
    try:
        r = Species(el, ox).ionic_radius
    except (ValueError, KeyError):
        r = None
    return float(r or Element(el).atomic_radius or 1.5)


def _scaled(structure: Structure, bond: float) -> Structure:
    dists = structure.distance_matrix[structure.distance_matrix > 1e-6]
    structure.scale_lattice(structure.volume * (bond / dists.min()) ** 3)
    return structure


def charge_neutral_binaries(elements: Iterable[str]) -> list[tuple[str, int, str, int, int, int]]:
    """(cation, ox, anion, ox, n_cation, n_anion) of charge-neutral binaries among ``elements``.

    The more electronegative element of a pair is the anion; every common oxidation-state pair
    (pymatgen ``common_oxidation_states``) with a reduced ratio up to 2:3 is listed once.
    """
    out = []
    for x, y in itertools.combinations(sorted(set(elements)), 2):
        cat, an = sorted((x, y), key=lambda e: Element(e).X)
        for qc in Element(cat).common_oxidation_states:
            for qa in Element(an).common_oxidation_states:
                if qc <= 0 or qa >= 0:
                    continue
                g = gcd(qc, -qa)
                nc, na = -qa // g, qc // g
                row = (cat, qc, an, qa, nc, na)
                if (nc, na) in _builders(cat, an) and all(
                    r[4:] != (nc, na) or r[0] != cat for r in out
                ):
                    out.append(row)
    return out


def _formula(parts: list[tuple[str, int]]) -> str:
    return "".join(f"{el}{n if n > 1 else ''}" for el, n in parts)


def decorations(
    elements: Iterable[str], known: Callable[[dict[str, int]], bool] = lambda c: False
) -> list[Decoration]:
    """Prototype structures for the charge-neutral binaries (and perovskites) not ``known``.

    Parameters
    ----------
    elements
        The chemical system.
    known
        Composition (element → count) → True if the reference already has that composition.
    """
    elements = sorted(set(elements))
    out: list[Decoration] = []
    for cat, qc, an, qa, nc, na in charge_neutral_binaries(elements):
        if known({cat: nc, an: na}):
            continue
        bond = _radius(cat, qc) + _radius(an, qa)
        formula = _formula([(cat, nc), (an, na)])
        for proto, build in _builders(cat, an)[(nc, na)].items():
            out.append(Decoration(f"{formula} {proto}", formula, proto, _scaled(build(), bond)))
    # ABX3 perovskites of ternary subsystems: q_A + q_B = 3 |q_X|
    for a, b, x in itertools.permutations(elements, 3):
        if a > b or max(Element(a).X, Element(b).X) >= Element(x).X:
            continue
        for qx in Element(x).common_oxidation_states:
            pairs = [
                (qa, qb)
                for qa in Element(a).common_oxidation_states
                for qb in Element(b).common_oxidation_states
                if qa > 0 and qb > 0 and qx < 0 and qa + qb == -3 * qx
            ]
            if not pairs or known({a: 1, b: 1, x: 3}):
                continue
            qa, qb = pairs[0]
            big, small = (a, b) if _radius(a, qa) >= _radius(b, qb) else (b, a)
            qs = qb if small == b else qa
            s = Structure.from_spacegroup(
                "Pm-3m", Lattice.cubic(1.0), [big, small, x],
                [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0]],
            )  # fmt: skip
            formula = _formula([(big, 1), (small, 1), (x, 3)])
            bond = _radius(small, qs) + _radius(x, qx)
            out.append(Decoration(f"{formula} perovskite", formula, "perovskite", _scaled(s, bond)))
            break
    return out
