"""``ReferenceHull``: a table of reference energies and batched, cached hull scoring against it.

Scoring builds each chemical system's hull once (``engine.ChemsysHull``; all systems new to a
batch together) and caches it (``cache.HullCache``). Candidates are grouped by chemical
system; a subsystem is scored on a superset's hull when one is built or cached anyway, and
all candidates are evaluated in a few vectorised calls (``scoring``). Candidates are never
added to the hull: E_d is measured against the reference alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Composition

from genflow.core.chem import CompositionError, parse_composition, reduced_formula
from genflow.core.progress import track
from genflow.hull.batch import dense_fractions, formation_energies
from genflow.hull.cache import HullCache
from genflow.hull.coverage import Coverage
from genflow.hull.engine import (
    FORMATION_ENERGY_TOL,
    ChemsysHull,
    HullSpec,
    assign_hosts,
    build_chemsys_hulls,
)
from genflow.hull.records import HullScore
from genflow.hull.scoring import (
    Parsed,
    candidate_formation_energies,
    parse_candidates,
    score_candidates,
)

if TYPE_CHECKING:
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

__all__ = ["HULL_CACHE_SIZE", "ReferenceHull"]

log = logging.getLogger(__name__)

#: Chemical-system hulls kept per ReferenceHull (a few kB each; LRU beyond this).
HULL_CACHE_SIZE = 20_000
#: Subsets of larger systems are found by scanning the index instead of enumerating 2^k.
_MAX_ENUM_DIM = 10
#: Score a system on a cached larger hull while candidates x its facets stay below this
#: (about the work of building the system's own hull).
_REUSE_MAX_PAIRS = 20_000
#: Chemical systems built per batch (progress-bar granularity; bounds peak memory).
_BUILD_CHUNK = 2_000

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
    potcar_scale : str
        POTCAR scale of the energies (``hull.scheme.POTCAR_SCALES``): ``"mp"`` for every
        bundled hull (``gnome`` included: its offsets are removed on load), ``"gnome"`` for a
        table on GNoME's PBE_54 scale. Scoring moves MP-scale candidates onto it.

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
        self.energies = np.asarray(energies, dtype=float)
        self._index_table()
        self._hulls = HullCache(HULL_CACHE_SIZE)

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

    # ------------------------------------------------------------------ hulls
    def hull_for(self, chemsys: Iterable[str]) -> ChemsysHull:
        """Cached hull of one chemical system (built on first use).

        Raises
        ------
        KeyError
            If an element of ``chemsys`` has no elemental reference in this hull.
        RuntimeError
            If the system's hull cannot be built (qhull failure).
        """
        system = tuple(sorted(set(chemsys)))
        missing = [el for el in system if el not in self.elements]
        if missing:
            raise KeyError(f"element {', '.join(missing)} absent from hull {self.name!r}")
        hull = self._hulls_for([system])[system]
        if isinstance(hull, Exception):
            raise hull
        return hull

    def clear_cache(self) -> None:
        """Forget every cached chemical-system hull."""
        self._hulls.clear()

    @property
    def cached_systems(self) -> int:
        """Number of chemical-system hulls currently cached."""
        return len(self._hulls)

    def _hulls_for(
        self, systems: Sequence[tuple[str, ...]]
    ) -> dict[tuple[str, ...], ChemsysHull | Exception]:
        """Hulls of ``systems`` (sorted tuples): cached ones reused, the rest built in one batch.

        A failed build is returned (not cached) so that only its own candidates fail.
        """
        out: dict[tuple[str, ...], ChemsysHull | Exception] = {}
        todo = []
        for system in systems:
            hull = self._hulls.get(system)
            if hull is None:
                todo.append(system)
            else:
                out[system] = hull
        for system, hull in zip(todo, build_chemsys_hulls(self._hull_specs(todo)), strict=True):
            out[system] = hull
            if isinstance(hull, ChemsysHull):
                self._hulls.put(system, hull)
        return out

    def _hull_specs(self, systems: Sequence[tuple[str, ...]]) -> list[HullSpec]:
        """Hull points (rows, fractions in system order, energies) of many systems at once."""
        if not systems:
            return []
        rows = [self.rows_in(system, hull_only=True) for system in systems]
        fractions = self._fractions_of(systems, rows)
        bounds = np.cumsum([0] + [len(r) for r in rows]).tolist()
        return [
            (system, fractions[a:b, : len(system)], self.energies[r], r)
            for system, r, a, b in zip(systems, rows, bounds[:-1], bounds[1:], strict=True)
        ]

    # ------------------------------------------------------------------ scoring
    def score(
        self,
        compositions: Sequence[CompositionLike],
        energies_per_atom: Sequence[float],
        *,
        progress: bool = False,
    ) -> list[HullScore]:
        r"""Score candidates against this hull, batched over chemical systems.

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

        Each chemical system's hull is built once (all new ones of a batch together) and
        cached; a subsystem is scored on a hull of a larger system when that one is built
        or cached anyway (exact: the hull restricted to a face is the face's hull).

        Parameters
        ----------
        compositions : sequence
            Candidate compositions (formulas, ``Composition`` or mappings).
        energies_per_atom : sequence of float
            Candidate energies per atom (eV/atom), in this hull's scheme (MP2020-compatible
            for the bundled hulls).
        progress : bool
            Show a rich progress bar over chunks of chemical systems.

        Returns
        -------
        list of HullScore
            One per input row, in input order. Rows that cannot be scored (malformed
            composition, unknown element, element absent from the hull, non-finite energy,
            a hull that cannot be built) carry ``error`` and no energies; the other rows are
            scored normally.
        """
        if len(compositions) != len(energies_per_atom):
            raise ValueError(
                f"{len(compositions)} compositions but {len(energies_per_atom)} energies"
            )
        out, cands = parse_candidates(compositions, energies_per_atom, self.elements, self.name)
        groups: dict[tuple[str, ...], list[Parsed]] = {}
        for c in cands:
            groups.setdefault(c.system, []).append(c)
        # Each system is scored on a host hull: its own, a batch superset's or a cached one's.
        hull_of: dict[tuple[str, ...], tuple[str, ...]] = {}
        for host, systems in assign_hosts(groups).items():
            n = sum(len(groups[s]) for s in systems)
            superset = (
                None if host in self._hulls else self._hulls.superset(host, _REUSE_MAX_PAIRS, n)
            )
            use = superset or host
            hull_of.update(dict.fromkeys(systems, use))
        needed = sorted(set(hull_of.values()))
        hulls: dict[tuple[str, ...], ChemsysHull | Exception] = {}
        chunks = [needed[i : i + _BUILD_CHUNK] for i in range(0, len(needed), _BUILD_CHUNK)]
        for chunk in track(chunks, "building chemical-system hulls", enabled=progress):
            hulls.update(self._hulls_for(chunk))
        usable = []
        for system, members in groups.items():
            hull = hulls[hull_of[system]]
            if isinstance(hull, Exception):  # qhull failure: these rows fail, the rest go on
                where = "-".join(hull_of[system])
                msg = f"hull {self.name!r} of {where} could not be evaluated: {hull}"
                for c in members:
                    out[c.row] = HullScore.failed(msg, c.formula)
            else:
                usable.extend(members)
        scores = score_candidates(
            usable,
            hull_of,
            hulls,  # type: ignore[arg-type]
            sym_idx=self._sym_idx,
            mu=self._mu,
            formula_of=self.formula,
            hull_name=self.name,
        )
        cover = Coverage.of(self)
        for c, score in zip(usable, scores, strict=True):
            out[c.row] = dataclasses.replace(score, **cover.fields(c.pairs))
        return out  # type: ignore[return-value]

    def formation_energy(
        self, compositions: Sequence[CompositionLike], energies_per_atom: Sequence[float]
    ) -> np.ndarray:
        """Formation energies per atom (E_f of ``score``, eV/atom), without building hulls.

        NaN for rows ``score`` would reject (bad composition or energy, uncovered element).
        """
        _, cands = parse_candidates(compositions, energies_per_atom, self.elements, self.name)
        out = np.full(len(compositions), np.nan)
        if cands:
            out[[c.row for c in cands]] = candidate_formation_energies(
                cands, sym_idx=self._sym_idx, mu=self._mu
            )
        return out
