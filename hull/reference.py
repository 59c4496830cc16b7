"""``ReferenceHull``: a table of reference energies and batched, cached hull scoring against it.

Scoring builds each chemical system's hull once (``engine.ChemsysHull``), caches it, groups
the candidates by chemical system and evaluates each group in one vectorised call. Candidates
are never added to the hull: E_d is measured against the reference alone.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Composition

from genflow.hull.engine import (
    FORMATION_ENERGY_TOL,
    ChemsysHull,
    assign_hosts,
    build_chemsys_hull,
)
from genflow.hull.formula import CompositionError, parse_composition, reduced_formula
from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from genflow.hull.records import HullScore

if TYPE_CHECKING:
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

__all__ = ["HULL_CACHE_SIZE", "ReferenceHull"]

log = logging.getLogger(__name__)

#: Chemical-system hulls kept per ReferenceHull (a few kB each; LRU beyond this).
HULL_CACHE_SIZE = 20_000
#: Subsets of larger systems are found by scanning the index instead of enumerating 2^k.
_MAX_ENUM_DIM = 10

CompositionLike = str | Composition | Mapping[str, float]


class ReferenceHull:
    """Reference entries (composition, energy per atom) that define a convex hull.

    Parameters
    ----------
    compositions : sequence
        Formulas, pymatgen ``Composition`` objects or element → amount mappings.
    energies_per_atom : sequence of float
        Energy per atom of each entry (eV/atom), in the scheme of the candidates to score
        (MP2020-compatible for the bundled hulls).
    ids : sequence of str, optional
        Entry ids (e.g. ``mp-149``); default ``row-<i>``.
    formulas : sequence of str, optional
        Reduced formulas, if already known (saves parsing time); computed lazily otherwise.
    name : str
        Hull name used in messages and outputs.
    scheme : str
        Short description of the energy scheme (shown in outputs).

    Notes
    -----
    Rows that cannot be used (malformed composition, non-finite energy) are skipped with a
    warning and listed in ``skipped``; they never abort the load.
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
    ) -> None:
        if len(compositions) != len(energies_per_atom):
            raise ValueError(
                f"hull {name!r}: {len(compositions)} compositions but "
                f"{len(energies_per_atom)} energies"
            )
        self.name = name
        self.scheme = scheme
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
        self.energies = np.asarray(energies, dtype=float)
        self._index_table()
        self._hulls: OrderedDict[tuple[str, ...], ChemsysHull] = OrderedDict()

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
        e_form = self.energies - np.add.reduceat(self._data * mu[self._indices], self._indptr[:-1])
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
        self._n_uncovered = int(np.isnan(e_form).sum())

    # ------------------------------------------------------------------ table access
    def __len__(self) -> int:
        return len(self.energies)

    def __repr__(self) -> str:
        return (
            f"ReferenceHull(name={self.name!r}, entries={len(self)}, "
            f"elements={len(self.elements)}, scheme={self.scheme!r})"
        )

    def formula(self, row: int) -> str:
        """Reduced formula of reference row ``row``."""
        if self._formulas is not None and isinstance(self._formulas[row], str):
            return self._formulas[row]
        return reduced_formula(self._pairs[row])

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
            else:
                allowed = set(system)
                parts = [v for k, v in self._index.items() if allowed.issuperset(k)]
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
        lut = np.full(len(self._symbols), -1, dtype=np.int64)
        for j, el in enumerate(elements):
            if el in self._sym_idx:
                lut[self._sym_idx[el]] = j
        starts = self._indptr[rows]
        lens = self._indptr[rows + 1] - starts
        flat = (
            np.arange(lens.sum())
            - np.repeat(np.cumsum(lens) - lens, lens)
            + np.repeat(starts, lens)
        )
        cols = lut[self._indices[flat]]
        if (cols < 0).any():
            raise ValueError(f"rows hold elements outside {tuple(elements)}")
        out = np.zeros((len(rows), len(elements)))
        out[np.repeat(np.arange(len(rows)), lens), cols] = self._data[flat]
        return out

    def chemical_potentials(self, elements: Sequence[str]) -> np.ndarray:
        """Elemental reference energies per atom (eV/atom) in ``elements`` order."""
        return np.asarray([self._mu[self._sym_idx[el]] for el in elements])

    # ------------------------------------------------------------------ hulls
    def hull_for(self, chemsys: Iterable[str]) -> ChemsysHull:
        """Cached hull of one chemical system (built on first use).

        Raises
        ------
        KeyError
            If an element of ``chemsys`` has no elemental reference in this hull.
        """
        system = tuple(sorted(set(chemsys)))
        hull = self._hulls.get(system)
        if hull is not None:
            self._hulls.move_to_end(system)
        else:
            missing = [el for el in system if el not in self.elements]
            if missing:
                raise KeyError(f"element {', '.join(missing)} absent from hull {self.name!r}")
            rows = self.rows_in(system, hull_only=True)
            hull = build_chemsys_hull(
                system, self.fractions(rows, system), self.energies[rows], rows
            )
            self._hulls[system] = hull
            if len(self._hulls) > HULL_CACHE_SIZE:  # least recently used goes first
                self._hulls.popitem(last=False)
        return hull

    def clear_cache(self) -> None:
        """Forget every cached chemical-system hull."""
        self._hulls.clear()

    @property
    def cached_systems(self) -> int:
        """Number of chemical-system hulls currently cached."""
        return len(self._hulls)

    def score(
        self,
        compositions: Sequence[CompositionLike],
        energies_per_atom: Sequence[float],
        *,
        progress: bool = False,
    ) -> list[HullScore]:
        r"""Score candidates against this hull, batched per chemical system.

        Decomposition energy (the E_d counted in Yang et al. 2023, Eq. 5; GNoME convention)::

            E_d(x) = E(x) - E_hull(c(x))                                      (E_d)

        where E(x) is the candidate's energy per atom and E_hull(c) the energy per atom of
        the lowest-energy combination of reference phases at composition c, i.e. the lower
        convex hull of the reference alone (the candidate is not added to it). E_d < 0 means
        the candidate lies below the reference hull. This equals pymatgen's
        ``PhaseDiagram.get_decomp_and_e_above_hull(entry, allow_negative=True)`` for an entry
        that is not in the diagram. ``is_stable``: E_d < 0; ``is_metastable``:
        E_d < 0.025 eV/atom. Formation energy per atom against the hull's elemental
        references μ_i::

            E_f(x) = E(x) - Σ_i c_i μ_i                                       (E_f)

        Parameters
        ----------
        compositions : sequence
            Candidate compositions (formulas, ``Composition`` or mappings).
        energies_per_atom : sequence of float
            Candidate energies per atom (eV/atom), in this hull's scheme (MP2020-compatible
            for the bundled hulls).
        progress : bool
            Show a rich progress bar over chemical systems.

        Returns
        -------
        list of HullScore
            One per input row, in input order. Rows that cannot be scored (malformed
            composition, unknown element, element absent from the hull, non-finite energy)
            carry ``error`` and no energies; the other rows are scored normally.
        """
        if len(compositions) != len(energies_per_atom):
            raise ValueError(
                f"{len(compositions)} compositions but {len(energies_per_atom)} energies"
            )
        out: list[HullScore | None] = [None] * len(compositions)
        groups: dict[tuple[str, ...], list[tuple[int, tuple, float]]] = {}
        for i, (comp, energy) in enumerate(zip(compositions, energies_per_atom, strict=True)):
            try:
                pairs = parse_composition(comp)
            except CompositionError as exc:
                out[i] = HullScore.failed(str(exc))
                continue
            formula = reduced_formula(pairs)
            try:
                e = float(energy)
            except (TypeError, ValueError):
                e = math.nan
            if not math.isfinite(e):
                out[i] = HullScore.failed(f"non-finite energy {energy!r} for {formula}", formula)
                continue
            system = tuple(el for el, _ in pairs)
            missing = [el for el in system if el not in self.elements]
            if missing:
                msg = f"element {', '.join(missing)} absent from hull {self.name!r}"
                out[i] = HullScore.failed(msg, formula)
                continue
            groups.setdefault(system, []).append((i, pairs, e))
        hosts = assign_hosts(groups)
        for host, systems in _progress(hosts.items(), progress, "scoring chemical systems"):
            rows = [row for system in systems for row in groups[system]]
            try:
                scores = self._score_group(host, rows)
            except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:  # qhull, no facet
                # A degenerate hull fails its own rows only; every other system is scored.
                msg = f"hull {self.name!r} of {'-'.join(host)} could not be evaluated: {exc}"
                scores = [HullScore.failed(msg, reduced_formula(r[1])) for r in rows]
            for row, score in zip(rows, scores, strict=True):
                out[row[0]] = score
        return out  # type: ignore[return-value]

    def _score_group(
        self, system: tuple[str, ...], rows: list[tuple[int, tuple, float]]
    ) -> list[HullScore]:
        hull = self.hull_for(system)
        col = {el: j for j, el in enumerate(system)}
        fractions = np.zeros((len(rows), len(system)))
        for r, (_, pairs, _) in enumerate(rows):
            total = sum(a for _, a in pairs)
            for el, amt in pairs:
                fractions[r, col[el]] = amt / total
        energies = np.asarray([r[2] for r in rows])
        e_hull, facet, amounts = hull.hull_energies(fractions)
        e_d = energies - e_hull
        e_form = energies - fractions @ self.chemical_potentials(system)
        facet_rows = hull.point_rows[hull.facets[facet]]  # (C, k) reference rows
        scores = []
        for r, (_, pairs, _) in enumerate(rows):
            decomposition = {
                self.formula(int(row)): float(a)
                for row, a in zip(facet_rows[r], amounts[r], strict=True)
                if a != 0.0
            }
            d = float(e_d[r])
            scores.append(
                HullScore(
                    formula=reduced_formula(pairs),
                    e_d=d,
                    e_form=float(e_form[r]),
                    decomposition=decomposition,
                    is_stable=d < STABLE_THRESHOLD,
                    is_metastable=d < METASTABLE_THRESHOLD,
                )
            )
        return scores

    def formation_energy(
        self, compositions: Sequence[CompositionLike], energies_per_atom: Sequence[float]
    ) -> np.ndarray:
        """Formation energies per atom (E_f of ``score``, eV/atom), without building hulls.

        NaN for rows ``score`` would reject (bad composition or energy, uncovered element).
        """
        out = np.full(len(compositions), np.nan)
        for i, (comp, energy) in enumerate(zip(compositions, energies_per_atom, strict=True)):
            try:
                pairs = parse_composition(comp)
                e = float(energy)
            except (CompositionError, TypeError, ValueError):
                continue
            if all(el in self.elements for el, _ in pairs):
                total = sum(a for _, a in pairs)
                out[i] = e - sum(a / total * self._mu[self._sym_idx[el]] for el, a in pairs)
        return out


def _progress(items: Any, enabled: bool, description: str) -> Any:
    """Iterate ``items`` under a rich progress bar when ``enabled``."""
    items = list(items)
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    # stderr keeps stdout clean for piped CSV/JSON output.
    yield from track(items, description=description, total=len(items), console=Console(stderr=True))
