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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure

from genflow.model.data import Dataset, FailedRow
from genflow.model.element_table import (
    FULL_SHAPE,
    ElementTable,
    Layout,
    TooManyAtomsError,
    element_symbol,
    periodic_position,
)

__all__ = [
    "FULL_SHAPE",
    "NULL_COORD",
    "ElementTable",
    "EncodedBatch",
    "EncodedDataset",
    "Layout",
    "TooManyAtomsError",
    "decode",
    "decode_many",
    "encode",
    "encode_dataset",
    "encode_many",
    "max_atoms_per_element",
    "periodic_position",
]

NULL_COORD: float = -1.0


def max_atoms_per_element(structures: Iterable[Structure]) -> int:
    """Largest count of one element in any structure: the smallest ``L`` that fits all.

    Disordered structures are skipped (they cannot be encoded anyway).
    """
    best = 0
    for s in structures:
        if s.is_ordered and len(s):
            best = max(best, *Counter(element_symbol(sp) for sp in s.species).values())
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
        sym = element_symbol(sp)
        r, c = table.position(sym)
        slot = fill[sym]
        if slot >= max_atoms:
            count = sum(1 for s in structure.species if element_symbol(s) == sym)
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


@dataclass(frozen=True)
class EncodedDataset:
    """A dataset as UniMat tensors, ready for training.

    Only rows that encoded are in the arrays; the rest are ``failures`` (e.g. too many atoms
    of one element for ``max_atoms``). ``table.to_dict()`` and ``max_atoms`` go in checkpoints.
    """

    coords: np.ndarray  # (N, L, H, W, 3) float32
    lattice: np.ndarray  # (N, 6) float32, a b c (Å) α β γ (degrees)
    table: ElementTable
    max_atoms: int
    ids: tuple[str, ...]
    properties: dict[str, np.ndarray]
    failures: tuple[FailedRow, ...]

    def __len__(self) -> int:
        return len(self.ids)


def encode_dataset(
    dataset: Dataset,
    *,
    table: ElementTable | None = None,
    layout: Layout = "cropped",
    max_atoms: int | None = None,
) -> EncodedDataset:
    """Encode every structure of ``dataset``.

    Parameters
    ----------
    dataset
        Loaded structures.
    table
        Element layout; by default a ``layout`` table over the dataset's elements.
    layout
        Used only when ``table`` is None (``"periodic"`` gives the full 9×18 table).
    max_atoms
        Depth ``L``; by default the largest per-element count in the dataset, so every row fits.
    """
    table = table or ElementTable.from_structures(dataset.structures, layout=layout)
    max_atoms = max_atoms or max_atoms_per_element(dataset.structures)
    batch = encode_many(dataset.structures, table, max_atoms)
    ok = batch.ok
    failures = list(dataset.failures)
    src = dataset.sources[0] if len(dataset.sources) == 1 else dataset.name
    for i, err in enumerate(batch.errors):
        if err is not None:
            failures.append(FailedRow(src, i, err, dataset.ids[i]))
    return EncodedDataset(
        batch.coords[ok],
        batch.lattice[ok],
        table,
        max_atoms,
        tuple(i for i, good in zip(dataset.ids, ok, strict=True) if good),
        {k: v[ok] for k, v in dataset.properties.items()},
        tuple(failures),
    )
