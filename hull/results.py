"""``HullScores``: the scores of one ``ReferenceHull.score`` call, held as columns.

Scoring computes every answer as arrays (E_d, E_f, hull energy, the containing facet's vertex
rows and decomposition amounts). Building a frozen ``HullScore``, a decomposition dict, the
reduced formula and the coverage fields of every row cost more than the hull arithmetic
itself (~40 µs a row), so they are built only for the rows a caller reads: indexing or
iterating gives ``HullScore`` objects (built once, then kept); the ``e_d``, ``e_form``,
``e_hull``, ``is_stable``, ``is_metastable`` and ``ok`` arrays need no objects at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from genflow.core.chem import reduced_formula
from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from genflow.hull.records import HullScore

if TYPE_CHECKING:
    from genflow.hull.coverage import Coverage

__all__ = ["HullScores"]

#: Pairs = parsed composition (``parse_composition``'s sorted (element, amount) tuples).
Pairs = tuple[tuple[str, float], ...]


class HullScores(Sequence[HullScore]):
    """Per-row hull scores of one batch: numpy columns, ``HullScore`` objects on demand.

    A ``Sequence[HullScore]`` (``len``, indexing, slicing, iteration, unpacking), so code
    written for a list of ``HullScore`` keeps working; equality with a list compares rows.

    Parameters
    ----------
    pairs : sequence
        Parsed composition of each row (None where it could not be parsed).
    energies : np.ndarray
        (n,) candidate energies per atom (eV/atom; NaN where unusable).
    e_hull, e_form : np.ndarray
        (n,) hull energy and formation energy per atom (eV/atom; NaN for failed rows).
    vertex_rows, amounts : np.ndarray
        (n, w) reference-table rows of the containing facet's vertices (-1 padded) and the
        decomposition amounts on them (0 where pymatgen drops them).
    errors : dict
        Row → reason, for rows that could not be scored.
    evaluated : np.ndarray
        (n,) rows that reached a hull (they carry coverage fields, even if no facet held them).
    formula_of : callable
        Reduced formula of a reference-table row (decomposition keys).
    coverage : callable
        Returns the hull's coverage index, built on first use (``composition_known``,
        ``binaries_known``, ``novelty``).

    Attributes
    ----------
    e_d, e_form, e_hull : np.ndarray
        (n,) eV/atom; NaN for rows that could not be scored (E_d, E_f as in
        ``ReferenceHull.score``).
    ok, is_stable, is_metastable : np.ndarray
        (n,) bool: scored; E_d < 0; E_d < 0.025 eV/atom (False for failed rows).
    vertex_rows, amounts, errors, evaluated
        As the parameters.
    """

    def __init__(
        self,
        *,
        pairs: Sequence[Pairs | None],
        energies: np.ndarray,
        e_hull: np.ndarray,
        e_form: np.ndarray,
        vertex_rows: np.ndarray,
        amounts: np.ndarray,
        errors: dict[int, str],
        evaluated: np.ndarray,
        formula_of: Callable[[int], str],
        coverage: Callable[[], Coverage],
    ) -> None:
        self._pairs = pairs
        self.e_hull = e_hull
        self.e_d = energies - e_hull
        self.vertex_rows = vertex_rows
        self.amounts = amounts
        self.errors = errors
        self.evaluated = evaluated
        self._formula_of = formula_of
        self._coverage = coverage
        self._rows: list[HullScore | None] = [None] * len(pairs)
        self.ok = np.isfinite(self.e_d)
        if errors:
            self.ok[list(errors)] = False
        self.e_form = np.where(self.ok, e_form, np.nan)
        self.e_d = np.where(self.ok, self.e_d, np.nan)
        self.is_stable = self.ok & (self.e_d < STABLE_THRESHOLD)
        self.is_metastable = self.ok & (self.e_d < METASTABLE_THRESHOLD)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"HullScores(rows={len(self)}, scored={int(self.ok.sum())})"

    @overload
    def __getitem__(self, index: int) -> HullScore: ...

    @overload
    def __getitem__(self, index: slice) -> list[HullScore]: ...

    def __getitem__(self, index: int | slice) -> HullScore | list[HullScore]:
        if isinstance(index, slice):
            rows = range(len(self))[index]
            self._build([i for i in rows if self._rows[i] is None])
            return [self._rows[i] for i in rows]  # type: ignore[misc]
        i = range(len(self))[index]  # IndexError and negative indices as a list's
        row = self._rows[i]
        if row is None:
            self._build([i])
            row = self._rows[i]
        return row  # type: ignore[return-value]

    def __iter__(self) -> Iterator[HullScore]:
        self._build([i for i, r in enumerate(self._rows) if r is None])
        return iter(self._rows)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HullScores | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ per-row values
    def formula(self, i: int) -> str | None:
        """Reduced formula of row ``i`` (None if its composition could not be parsed)."""
        pairs = self._pairs[i]
        return None if pairs is None else reduced_formula(pairs)

    def decomposition(self, i: int) -> dict[str, float]:
        """Reduced formula → atom fraction of the hull phases at row ``i``'s composition."""
        if not self.ok[i]:
            return {}
        return {
            self._formula_of(row): amt
            for row, amt in zip(self.vertex_rows[i].tolist(), self.amounts[i].tolist(), strict=True)
            if amt != 0.0
        }

    def _build(self, rows: list[int]) -> None:
        """Build the ``HullScore`` of each row in ``rows`` (columns read as lists once)."""
        if not rows:
            return
        idx = np.asarray(rows, dtype=np.int64)
        evaluated = self.evaluated[idx].tolist()
        covered = [i for i, e in zip(rows, evaluated, strict=True) if e]
        fields = self._coverage().fields_many([self._pairs[i] for i in covered])  # type: ignore[misc]
        extra: dict[int, dict[str, Any]] = dict(zip(covered, fields, strict=True))
        columns = zip(
            rows,
            self.ok[idx].tolist(),
            self.e_d[idx].tolist(),
            self.e_form[idx].tolist(),
            self.vertex_rows[idx].tolist(),
            self.amounts[idx].tolist(),
            strict=True,
        )
        name = self._formula_of
        for i, ok, d, e_form, vertex_rows, amounts in columns:
            more = extra.get(i, {})
            if not ok:
                self._rows[i] = HullScore(formula=self.formula(i), error=self.errors.get(i), **more)
                continue
            self._rows[i] = HullScore(
                formula=self.formula(i),
                e_d=d,
                e_form=e_form,
                decomposition={
                    name(r): a for r, a in zip(vertex_rows, amounts, strict=True) if a != 0.0
                },
                is_stable=d < STABLE_THRESHOLD,
                is_metastable=d < METASTABLE_THRESHOLD,
                **more,
            )
