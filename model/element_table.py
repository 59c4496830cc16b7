"""The periodic-table grid of the UniMat tensor: which element sits in which ``(row, col)`` cell.

The layout decisions (f-block placement, sub-tables) are documented once, in
:mod:`genflow.model.unimat.representation`; this module holds the grid itself so the encoder/decoder
file stays about the tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pymatgen.core import Composition, Element, Species, Structure
from pymatgen.core.periodic_table import get_el_sp

__all__ = [
    "FULL_SHAPE",
    "ElementTable",
    "Layout",
    "TooManyAtomsError",
    "element_symbol",
    "periodic_position",
]

FULL_SHAPE: tuple[int, int] = (9, 18)
Layout = Literal["periodic", "cropped", "compact"]

# First Z of each period (1-based periods 1..7) and the f-block ranges.
_PERIOD_START = (1, 3, 11, 19, 37, 55, 87, 119)
_LANTHANIDES = range(57, 72)
_ACTINIDES = range(89, 104)


class TooManyAtomsError(ValueError):
    """A structure has more atoms of one element than the table depth ``L`` allows."""

    def __init__(self, element: str, count: int, max_atoms: int, formula: str = "") -> None:
        self.element, self.count, self.max_atoms = element, count, max_atoms
        where = f" in {formula}" if formula else ""
        super().__init__(
            f"{count} atoms of {element}{where} exceed max_atoms L={max_atoms} "
            f"(at most {max_atoms} atoms per element fit)"
        )


def periodic_position(element: str | Element) -> tuple[int, int]:
    """Return the 0-based ``(row, group)`` cell of an element in the 9×18 table.

    Parameters
    ----------
    element
        Element symbol or pymatgen ``Element``.

    Returns
    -------
    tuple[int, int]
        Row 0–6 for periods 1–7, 7 for lanthanides, 8 for actinides; group column 0–17.
    """
    z = Element(str(element)).Z
    if z in _LANTHANIDES:
        return 7, 2 + (z - 57)
    if z in _ACTINIDES:
        return 8, 2 + (z - 89)
    period = next(p for p in range(7) if _PERIOD_START[p] <= z < _PERIOD_START[p + 1])
    k = z - _PERIOD_START[period]  # 0-based position within the period
    if period == 0:
        return 0, 0 if z == 1 else 17
    if period in (1, 2):  # s-block then p-block (groups 13-18)
        return period, k if k < 2 else k + 10
    if period in (3, 4):
        return period, k
    # periods 6, 7: Cs/Ba (Fr/Ra), then the f-block is moved out, then groups 4-18
    return period, k if k < 2 else k - 14


def element_symbol(specie: Element | Species | str) -> str:
    """Element symbol of a pymatgen specie or string such as ``"Fe2+"`` (charge dropped)."""
    return get_el_sp(specie).symbol if isinstance(specie, str) else specie.symbol


@dataclass(frozen=True)
class ElementTable:
    """Which element sits in which ``(row, col)`` cell of the ``H×W`` grid.

    Build with :meth:`full`, :meth:`for_elements` or :meth:`from_structures`; store with
    :meth:`to_dict` / :meth:`from_dict` so a checkpoint records the layout it was trained on.

    Attributes
    ----------
    symbols
        Element symbols, sorted by Z.
    positions
        0-based ``(row, col)`` cell of each symbol (same order).
    shape
        Grid shape ``(H, W)``.
    layout
        ``"periodic"`` (full 9×18), ``"cropped"`` or ``"compact"``.
    """

    symbols: tuple[str, ...]
    positions: tuple[tuple[int, int], ...]
    shape: tuple[int, int]
    layout: str = "periodic"
    _index: dict[str, tuple[int, int]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if len(self.symbols) != len(self.positions):
            raise ValueError("ElementTable: symbols and positions differ in length")
        if len(set(self.positions)) != len(self.positions):
            raise ValueError("ElementTable: two elements share a cell")
        h, w = self.shape
        for sym, (r, c) in zip(self.symbols, self.positions, strict=True):
            Element(sym)  # raises for an unknown symbol
            if not (0 <= r < h and 0 <= c < w):
                raise ValueError(f"ElementTable: cell {(r, c)} of {sym} outside shape {self.shape}")
        self._index.update(zip(self.symbols, self.positions, strict=True))

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def full(cls) -> ElementTable:
        """The full 9×18 periodic table holding all 118 elements."""
        symbols = tuple(Element.from_Z(z).symbol for z in range(1, 119))
        return cls(symbols, tuple(periodic_position(s) for s in symbols), FULL_SHAPE, "periodic")

    @classmethod
    def for_elements(
        cls, elements: Iterable[str | Element], layout: Layout = "cropped"
    ) -> ElementTable:
        """A table for a set of elements (a chemical system or a dataset's elements).

        Parameters
        ----------
        elements
            Element symbols (duplicates ignored), e.g. ``["Ba", "Ti", "O"]`` or ``"Ba-Ti-O"``.
        layout
            ``"periodic"``: the full 9×18 table (the elements only restrict nothing);
            ``"cropped"``: only rows/groups that hold one of the elements;
            ``"compact"``: elements in Z order filling a ``ceil(sqrt(n))``-wide grid.
        """
        if isinstance(elements, str):
            elements = [e for e in elements.replace("-", " ").replace(",", " ").split() if e]
        syms = sorted({Element(str(e)).symbol for e in elements}, key=lambda s: Element(s).Z)
        if not syms:
            raise ValueError("ElementTable.for_elements: no elements given")
        if layout == "periodic":
            return cls.full()
        if layout == "cropped":
            cells = [periodic_position(s) for s in syms]
            rows = sorted({r for r, _ in cells})
            cols = sorted({c for _, c in cells})
            pos = tuple((rows.index(r), cols.index(c)) for r, c in cells)
            return cls(tuple(syms), pos, (len(rows), len(cols)), "cropped")
        if layout == "compact":
            w = math.ceil(math.sqrt(len(syms)))
            h = math.ceil(len(syms) / w)
            pos = tuple(divmod(i, w) for i in range(len(syms)))
            return cls(tuple(syms), pos, (h, w), "compact")
        raise ValueError(
            f"unknown ElementTable layout {layout!r}; use periodic, cropped or compact"
        )

    @classmethod
    def from_structures(
        cls, structures: Iterable[Structure], layout: Layout = "cropped"
    ) -> ElementTable:
        """A table holding exactly the elements that occur in ``structures``."""
        elements = {element_symbol(sp) for s in structures for sp in s.composition.elements}
        return cls.for_elements(elements, layout)

    # -- queries ------------------------------------------------------------------------
    def __contains__(self, element: object) -> bool:
        try:
            return element_symbol(element) in self._index  # type: ignore[arg-type]
        except (ValueError, AttributeError):
            return False

    def __len__(self) -> int:
        return len(self.symbols)

    def position(self, element: str | Element) -> tuple[int, int]:
        """Cell of ``element``; raise ``ValueError`` naming it if the table lacks it."""
        sym = element_symbol(element)
        try:
            return self._index[sym]
        except KeyError:
            raise ValueError(
                f"element {sym} is not in this {self.layout} ElementTable of "
                f"{len(self.symbols)} elements ({' '.join(self.symbols[:12])}"
                f"{' ...' if len(self.symbols) > 12 else ''})"
            ) from None

    def symbol_at(self, row: int, col: int) -> str | None:
        """Element at a cell, or ``None`` for an empty cell."""
        for sym, p in self._index.items():
            if p == (row, col):
                return sym
        return None

    @property
    def mask(self) -> np.ndarray:
        """``(H, W)`` bool array, True where a cell holds an element."""
        m = np.zeros(self.shape, dtype=bool)
        for r, c in self.positions:
            m[r, c] = True
        return m

    def composition_grid(self, composition: Composition | str | dict) -> np.ndarray:
        """Atom counts per cell, ``(H, W)`` int32 (the composition in table form)."""
        comp = composition if isinstance(composition, Composition) else Composition(composition)
        grid = np.zeros(self.shape, dtype=np.int32)
        for el, amt in comp.get_el_amt_dict().items():
            if abs(amt - round(amt)) > 1e-6:
                raise ValueError(f"composition {comp.formula} has a non-integer amount of {el}")
            r, c = self.position(el)
            grid[r, c] = round(amt)
        return grid

    def occupancy(self, composition: Composition | str | dict, max_atoms: int) -> np.ndarray:
        """``(L, H, W)`` bool, True in the first ``n`` slots of each element's cell: the
        exact-composition condition, and the ``occupancy`` mask :func:`decode` accepts."""
        grid = self.composition_grid(composition)
        if grid.max(initial=0) > max_atoms:
            r, c = np.unravel_index(np.argmax(grid), grid.shape)
            formula = Composition(composition).reduced_formula
            raise TooManyAtomsError(self.symbol_at(r, c), int(grid[r, c]), max_atoms, formula)
        return np.arange(max_atoms)[:, None, None] < grid[None]

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for checkpoints and configs)."""
        return {
            "symbols": list(self.symbols),
            "positions": [list(p) for p in self.positions],
            "shape": list(self.shape),
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ElementTable:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(d["symbols"]),
            tuple((int(r), int(c)) for r, c in d["positions"]),
            (int(d["shape"][0]), int(d["shape"][1])),
            str(d.get("layout", "periodic")),
        )
