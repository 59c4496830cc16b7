"""``ReferenceTable``: the reference entries of a hull and the index scoring reads them through.

Parses the rows once (bad rows skipped and listed), then indexes them: CSR atomic fractions,
the elemental references μ_i, the rows that can be hull points (lowest energy per reduced
composition, formation energy below the tolerance, or an elemental reference) grouped by
chemical system. ``ReferenceHull`` (``genflow.hull.reference``) adds hull building and scoring
on top; nothing here builds a hull.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Composition

from genflow.core.chem import CompositionError, parse_composition, reduced_formula
from genflow.hull.batch import dense_fractions, formation_energies
from genflow.hull.engine import FORMATION_ENERGY_TOL

if TYPE_CHECKING:
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

__all__ = ["CompositionLike", "ReferenceTable"]

log = logging.getLogger(__name__)

#: Subsets of larger systems are found by scanning the index instead of enumerating 2^k.
_MAX_ENUM_DIM = 10

CompositionLike = str | Composition | Mapping[str, float]


class ReferenceTable:
    """Reference entries (composition, energy per atom) and their chemical-system index.

    Parameters are those of ``ReferenceHull``, which subclasses this.
    """

    def __init__(
        self,
        compositions: Sequence[CompositionLike],
        energies_per_atom: Sequence[float],
        *,
        ids: Sequence[str] | None = None,
        formulas: Sequence[str] | None = None,
        name: str = "custom",
        scheme: str = "as given",
        potcar_scale: str = "mp",
    ) -> None:
        if len(compositions) != len(energies_per_atom):
            raise ValueError(
                f"hull {name!r}: {len(compositions)} compositions but "
                f"{len(energies_per_atom)} energies"
            )
        self.name = name
        self.scheme = scheme
        self.potcar_scale = potcar_scale
        self.skipped: list[tuple[int, str]] = []
        ids = list(ids) if ids is not None else [f"row-{i}" for i in range(len(compositions))]
        pairs, energies, keep = [], [], []
        for i, (comp, energy) in enumerate(zip(compositions, energies_per_atom, strict=True)):
            try:
                parsed = parse_composition(comp)
                e = float(energy)
            except (CompositionError, TypeError, ValueError) as exc:
                self.skipped.append((i, str(exc)))
                continue
            if not math.isfinite(e):
                self.skipped.append((i, f"non-finite energy {energy!r} for {comp!r}"))
                continue
            pairs.append(parsed)
            energies.append(e)
            keep.append(i)
        if self.skipped:
            log.warning(
                "hull %r: skipped %d unusable reference rows (first: row %d, %s)",
                name,
                len(self.skipped),
                *self.skipped[0],
            )
        if not pairs:
            raise ValueError(f"hull {name!r}: no usable reference entries")
        self.ids = [str(ids[i]) for i in keep]
        self._formulas = [formulas[i] for i in keep] if formulas is not None else None
        self._pairs = pairs
        self._formula_memo: dict[int, str] = {}
        self.energies = np.asarray(energies, dtype=float)
        self._index_table()

    # ------------------------------------------------------------------ construction
    def _index_table(self) -> None:
        """CSR fractions, elemental references, deduplicated hull rows and a chemsys index."""
        symbols = sorted({el for pairs in self._pairs for el, _ in pairs})
        self._symbols = symbols
        self._sym_idx = {s: i for i, s in enumerate(symbols)}
        lens = np.fromiter((len(p) for p in self._pairs), dtype=np.int64, count=len(self._pairs))
        self._indptr = np.concatenate([[0], np.cumsum(lens)])
        self._indices = np.fromiter(
            (self._sym_idx[el] for p in self._pairs for el, _ in p), dtype=np.int64
        )
        amounts = np.fromiter((a for p in self._pairs for _, a in p), dtype=float)
        totals = np.add.reduceat(amounts, self._indptr[:-1])
        self._data = amounts / np.repeat(totals, lens)
        self.chemsys = [tuple(el for el, _ in p) for p in self._pairs]

        # Elemental references: lowest energy per atom among each element's pure entries.
        mu = np.full(len(symbols), np.nan)
        self._ref_rows: dict[str, int] = {}
        for row in np.flatnonzero(lens == 1):
            el = self.chemsys[row][0]
            j = self._sym_idx[el]
            if np.isnan(mu[j]) or self.energies[row] < mu[j]:
                mu[j] = self.energies[row]
                self._ref_rows[el] = int(row)
        self._mu = mu
        self.elements: frozenset[str] = frozenset(self._ref_rows)

        # Hull rows: lowest energy per reduced composition, formation energy < -tol or an
        # elemental reference (PhaseDiagram._compute keeps exactly these).
        owner = np.repeat(np.arange(len(lens)), lens)
        e_form = formation_energies(self.energies, owner, self._data, mu[self._indices])
        # Rounding makes e.g. Fe2O3 and Fe4O6 one key, as pymatgen's reduced_composition does.
        rounded = np.round(self._data, 10).tolist()
        best: dict[tuple, int] = {}
        for row in range(len(self._pairs)):
            key = (self.chemsys[row], *rounded[self._indptr[row] : self._indptr[row + 1]])
            prev = best.get(key)
            if prev is None or self.energies[row] < self.energies[prev]:
                best[key] = row
        ref_rows = set(self._ref_rows.values())
        index: dict[tuple[str, ...], list[int]] = {}
        for row in sorted(best.values()):
            if (
                row in ref_rows or e_form[row] < -FORMATION_ENERGY_TOL
            ):  # NaN e_form (no reference) drops
                index.setdefault(self.chemsys[row], []).append(row)
        self._index = {k: np.asarray(v, dtype=np.int64) for k, v in index.items()}
        self._index_masks = [
            (sum(1 << self._sym_idx[el] for el in k), v) for k, v in self._index.items()
        ]
        self._n_uncovered = int(np.isnan(e_form).sum())

    # ------------------------------------------------------------------ table access
    def __len__(self) -> int:
        return len(self.energies)

    def formula(self, row: int) -> str:
        """Reduced formula of reference row ``row`` (kept once computed: decomposition keys)."""
        found = self._formula_memo.get(row)
        if found is None:
            if self._formulas is not None and isinstance(self._formulas[row], str):
                found = self._formulas[row]
            else:
                found = reduced_formula(self._pairs[row])
            self._formula_memo[row] = found
        return found

    def rows_in(self, chemsys: Iterable[str], *, hull_only: bool = False) -> np.ndarray:
        """Row indices of entries whose elements all lie in ``chemsys``.

        Parameters
        ----------
        chemsys : iterable of str
            Element symbols.
        hull_only : bool
            Only the deduplicated rows that can be hull points (see ``_index_table``).
        """
        system = tuple(sorted(set(chemsys)))
        if hull_only:
            if len(system) <= _MAX_ENUM_DIM:
                keys = (
                    sub
                    for n in range(1, len(system) + 1)
                    for sub in itertools.combinations(system, n)
                )
                parts = [self._index[k] for k in keys if k in self._index]
            else:  # 2^k subsets is too many: scan every indexed system's element bitmask
                mask = sum(1 << self._sym_idx[el] for el in system if el in self._sym_idx)
                parts = [rows for m, rows in self._index_masks if not m & ~mask]
            return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        allowed = set(system)
        return np.asarray(
            [i for i, cs in enumerate(self.chemsys) if allowed.issuperset(cs)], dtype=np.int64
        )

    def entries(self, chemsys: Iterable[str] | None = None) -> list[PDEntry]:
        """pymatgen ``PDEntry`` objects (total energies, name = id) of all or some rows."""
        from pymatgen.analysis.phase_diagram import PDEntry

        rows = range(len(self)) if chemsys is None else self.rows_in(chemsys)
        out = []
        for row in rows:
            comp = Composition(dict(self._pairs[row]))
            out.append(
                PDEntry(comp, float(self.energies[row]) * comp.num_atoms, name=self.ids[row])
            )
        return out

    def phase_diagram(self, chemsys: Iterable[str]) -> PhaseDiagram:
        """pymatgen ``PhaseDiagram`` of every reference entry within ``chemsys`` (slow path)."""
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        return PhaseDiagram(self.entries(chemsys))

    def fractions(self, rows: np.ndarray, elements: Sequence[str]) -> np.ndarray:
        """(len(rows), len(elements)) atomic fractions of reference rows in ``elements`` order."""
        rows = np.asarray(rows, dtype=np.int64)
        system = tuple(sorted({el for el in elements if el in self._sym_idx}))
        if not set(system).issuperset(el for r in rows.tolist() for el in self.chemsys[r]):
            raise ValueError(f"rows hold elements outside {tuple(elements)}")
        dense = self._fractions_of([system], [rows]) if system else np.zeros((len(rows), 0))
        out = np.zeros((len(rows), len(elements)))
        for j, el in enumerate(elements):
            if el in system:
                out[:, j] = dense[:, system.index(el)]
        return out

    def _fractions_of(
        self, systems: Sequence[tuple[str, ...]], rows: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Fractions of each system's rows in its (sorted) element order, stacked, zero-padded."""
        all_rows = np.concatenate(rows).astype(np.int64)
        width = max(len(s) for s in systems)
        if not len(all_rows):
            return np.zeros((0, width))
        starts = self._indptr[all_rows]
        lens = self._indptr[all_rows + 1] - starts
        entry = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens - starts, lens)
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        return dense_fractions(
            np.repeat(np.arange(len(all_rows)), lens),
            self._indices[entry],
            self._data[entry],
            [np.fromiter((self._sym_idx[el] for el in s), dtype=np.int64) for s in systems],
            np.repeat(np.arange(len(systems)), sizes),
            len(all_rows),
            width,
        )

    def chemical_potentials(self, elements: Sequence[str]) -> np.ndarray:
        """Elemental reference energies per atom (eV/atom) in ``elements`` order."""
        return np.asarray([self._mu[self._sym_idx[el]] for el in elements])
