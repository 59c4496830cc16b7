"""UniMat crystal representation: a periodic-table tensor of fractional coordinates.

Yang et al. 2023, "Scalable Diffusion for Materials Generation", §2.1 and Appendix 6: a crystal
with at most ``L`` atoms of any one element is a tensor ``x ∈ R^{L×H×W×3}`` plus the lattice
parameters ``(a, b, c, α, β, γ)``. ``H×W`` is the periodic table (9 rows: periods 1–7, then the
lanthanide and actinide rows; 18 groups). The ``l``-th atom of the element at cell ``(h, w)``
stores its fractional coordinates at ``x[l, h, w]``; slots without an atom hold the null
location ``(−1, −1, −1)``.

Layout decisions (documented here once):

* **f-block placement.** Period 6 and 7 group-3 cells (below Y) are left empty; the 15
  lanthanides La–Lu sit in row 8 and the 15 actinides Ac–Lr in row 9, at groups 3–17 (La and Ac
  under Y's column, Lu and Lr under group 17). Every element Z = 1…118 gets exactly one cell of
  the 9×18 grid; 44 cells stay empty.
* **Sub-tables.** A dataset or chemical system that uses few elements can use a smaller grid:
  ``layout="cropped"`` keeps only the periodic-table rows and groups that contain one of the
  elements (relative order preserved, so neighbouring elements stay neighbours);
  ``layout="compact"`` packs the elements in Z order into a near-square grid. A single element
  gives ``H = W = 1`` in both.
* **Atom order along L.** Encoding puts an element's atoms in slots ``0…n−1`` in the order they
  appear in the structure; the order carries no information (see ``augment.permute_atoms``).
* **Null rule on decode.** A slot is an atom iff the mean of its three coordinates is
  ``≥ null_threshold`` (default −0.5): the plane halfway between the null point ``(−1,−1,−1)``
  and the nearest corner of the unit cube. Using the mean rather than "any coordinate" keeps an
  atom whose one coordinate strayed slightly negative in a noisy sample; real atoms are then
  wrapped into ``[0, 1)``. NaN slots are kept as atoms so validity checks can report them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Species, Structure
from pymatgen.core.periodic_table import get_el_sp

__all__ = [
    "FULL_SHAPE",
    "NULL_COORD",
    "ElementTable",
    "EncodedBatch",
    "TooManyAtomsError",
    "decode",
    "decode_many",
    "encode",
    "encode_many",
    "max_atoms_per_element",
    "periodic_position",
]

NULL_COORD: float = -1.0
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


def _symbol(specie: Element | Species | str) -> str:
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
        elements = {_symbol(sp) for s in structures for sp in s.composition.elements}
        return cls.for_elements(elements, layout)

    # -- queries ------------------------------------------------------------------------
    def __contains__(self, element: object) -> bool:
        try:
            return _symbol(element) in self._index  # type: ignore[arg-type]
        except (ValueError, AttributeError):
            return False

    def __len__(self) -> int:
        return len(self.symbols)

    def position(self, element: str | Element) -> tuple[int, int]:
        """Cell of ``element``; raise ``ValueError`` naming it if the table lacks it."""
        sym = _symbol(element)
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


def max_atoms_per_element(structures: Iterable[Structure]) -> int:
    """Largest count of one element in any structure: the smallest ``L`` that fits all.

    Disordered structures are skipped (they cannot be encoded anyway).
    """
    best = 0
    for s in structures:
        if s.is_ordered and len(s):
            best = max(best, *Counter(_symbol(sp) for sp in s.species).values())
    return best


def encode(
    structure: Structure, table: ElementTable, max_atoms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Encode a structure as the UniMat tensor (§2.1).

    Parameters
    ----------
    structure
        An ordered pymatgen ``Structure`` (oxidation states are ignored).
    table
        Element layout.
    max_atoms
        Table depth ``L``.

    Returns
    -------
    coords : np.ndarray
        ``(L, H, W, 3)`` float32; fractional coordinates wrapped into ``[0, 1)``, nulls at −1.
    lattice : np.ndarray
        ``(6,)`` float32: a, b, c in Å and α, β, γ in degrees.

    Raises
    ------
    TooManyAtomsError
        More than ``max_atoms`` atoms of one element.
    ValueError
        A disordered site, or an element missing from ``table``.
    """
    if not structure.is_ordered:
        raise ValueError(f"{structure.formula}: disordered structures cannot be encoded")
    h, w = table.shape
    coords = np.full((max_atoms, h, w, 3), NULL_COORD, dtype=np.float32)
    frac = np.mod(structure.frac_coords, 1.0)
    fill = Counter()
    for sp, xyz in zip(structure.species, frac, strict=True):
        sym = _symbol(sp)
        r, c = table.position(sym)
        slot = fill[sym]
        if slot >= max_atoms:
            count = sum(1 for s in structure.species if _symbol(s) == sym)
            raise TooManyAtomsError(sym, count, max_atoms, structure.composition.reduced_formula)
        coords[slot, r, c] = xyz
        fill[sym] = slot + 1
    # float32 can round 0.99999999 up to 1.0: keep the stored value inside [0, 1).
    coords[coords >= 1.0] = 0.0
    lat = structure.lattice
    lattice = np.array([*lat.abc, *lat.angles], dtype=np.float32)
    return coords, lattice


def atom_mask(coords: np.ndarray, null_threshold: float = -0.5) -> np.ndarray:
    """``(..., L, H, W)`` bool: which slots decode to atoms (see the module's null rule)."""
    mean = np.asarray(coords, dtype=np.float64).mean(axis=-1)
    return ~(mean < null_threshold)  # NaN compares False, so NaN slots count as atoms


def decode(
    coords: np.ndarray,
    lattice: np.ndarray,
    table: ElementTable,
    null_threshold: float = -0.5,
    occupancy: np.ndarray | None = None,
) -> Structure:
    """Decode a UniMat tensor back into a ``Structure`` (inverse of :func:`encode`).

    Parameters
    ----------
    coords
        ``(L, H, W, 3)`` fractional coordinates (e.g. a denoised sample).
    lattice
        ``(6,)`` a, b, c (Å), α, β, γ (degrees).
    table
        Element layout used for encoding.
    null_threshold
        A slot whose mean coordinate is below this is empty (default −0.5).
    occupancy
        Optional ``(L, H, W)`` bool mask that overrides the null rule (exact-composition
        sampling knows which slots hold atoms).

    Returns
    -------
    Structure
        Atoms of each element in slot order, coordinates wrapped into ``[0, 1)``.
    """
    coords = np.asarray(coords, dtype=np.float64)
    h, w = table.shape
    if coords.ndim != 4 or coords.shape[1:] != (h, w, 3):
        raise ValueError(f"coords shape {coords.shape} does not match (L, {h}, {w}, 3)")
    lat = np.asarray(lattice, dtype=np.float64).reshape(-1)
    if lat.shape != (6,):
        raise ValueError(f"lattice must have 6 parameters, got shape {np.shape(lattice)}")
    occ = atom_mask(coords, null_threshold) if occupancy is None else np.asarray(occupancy, bool)
    species: list[str] = []
    frac: list[np.ndarray] = []
    for sym, (r, c) in zip(table.symbols, table.positions, strict=True):
        slots = np.flatnonzero(occ[:, r, c])
        species += [sym] * len(slots)
        frac.append(coords[slots, r, c])
    xyz = np.concatenate(frac) if frac else np.zeros((0, 3))
    xyz = np.mod(xyz, 1.0)
    xyz[xyz >= 1.0] = 0.0  # np.mod(-1e-17, 1) == 1.0 in float64
    return Structure(Lattice.from_parameters(*lat), species, xyz)


@dataclass(frozen=True)
class EncodedBatch:
    """Result of :func:`encode_many`: stacked tensors plus one error (or None) per row.

    Rows that failed hold all-null coordinates and NaN lattice; ``ok`` selects the good rows.
    """

    coords: np.ndarray  # (N, L, H, W, 3) float32
    lattice: np.ndarray  # (N, 6) float32
    errors: tuple[str | None, ...]

    @property
    def ok(self) -> np.ndarray:
        """(N,) bool, True where the row encoded."""
        return np.array([e is None for e in self.errors], dtype=bool)

    def __len__(self) -> int:
        return len(self.errors)


def encode_many(
    structures: Sequence[Structure], table: ElementTable, max_atoms: int
) -> EncodedBatch:
    """Encode a list of structures; a row that fails keeps its error, the others go on."""
    h, w = table.shape
    n = len(structures)
    coords = np.full((n, max_atoms, h, w, 3), NULL_COORD, dtype=np.float32)
    lattice = np.full((n, 6), np.nan, dtype=np.float32)
    errors: list[str | None] = []
    for i, s in enumerate(structures):
        try:
            coords[i], lattice[i] = encode(s, table, max_atoms)
        except ValueError as exc:  # TooManyAtomsError, missing element, disorder
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            errors.append(None)
    return EncodedBatch(coords, lattice, tuple(errors))


def decode_many(
    coords: np.ndarray,
    lattice: np.ndarray,
    table: ElementTable,
    null_threshold: float = -0.5,
    occupancy: np.ndarray | None = None,
) -> tuple[list[Structure | None], list[str | None]]:
    """Decode a batch; a row whose lattice cannot be built gives ``None`` and its error."""
    out: list[Structure | None] = []
    errors: list[str | None] = []
    for i in range(len(coords)):
        try:
            occ = None if occupancy is None else occupancy[i]
            out.append(decode(coords[i], lattice[i], table, null_threshold, occ))
            errors.append(None)
        except (ValueError, np.linalg.LinAlgError) as exc:
            out.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    return out, errors
