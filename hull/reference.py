"""``ReferenceHull``: batched, cached hull scoring against a ``ReferenceTable``.

The table itself (parsing, chemical-system index, fractions) is ``genflow.hull.table``.

Scoring builds each chemical system's hull once (``engine.ChemsysHull``; all systems new to a
batch together) and caches it (``cache.HullCache``). Candidates are grouped by chemical
system; a subsystem is scored on a superset's hull when one is built or cached anyway, and
all candidates are evaluated in a few vectorised calls (``scoring``). Candidates are never
added to the hull: E_d is measured against the reference alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor

import numpy as np

from genflow.core.chem import chemsys_string, reduced_formula
from genflow.core.progress import track
from genflow.hull.cache import HullCache
from genflow.hull.coverage import Coverage
from genflow.hull.engine import ChemsysHull, HullSpec, assign_hosts, build_chemsys_hulls
from genflow.hull.pool import TASK_SYSTEMS, build_in_pool, hull_pool
from genflow.hull.results import HullScores
from genflow.hull.scoring import (
    ParsedBatch,
    batch_formation_energies,
    evaluate_batch,
    parse_batch,
)
from genflow.hull.table import CompositionLike, ReferenceTable

__all__ = ["HULL_CACHE_SIZE", "CompositionLike", "ReferenceHull"]

System = tuple[str, ...]

#: Chemical-system hulls kept per ReferenceHull (a few kB each; LRU beyond this).
HULL_CACHE_SIZE = 20_000
#: Score a system on a cached larger hull while candidates x its facets stay below this
#: (about the work of building the system's own hull).
_REUSE_MAX_PAIRS = 20_000
#: Chemical systems built per batch (progress-bar granularity; bounds peak memory).
_BUILD_CHUNK = 2_000


class ReferenceHull(ReferenceTable):
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

    @functools.cached_property
    def _hosted(self) -> dict[System, System]:
        """System → the larger cached system an earlier call scored it on (exact, see score)."""
        return {}

    @functools.cached_property
    def _hulls(self) -> HullCache:
        """Per-chemical-system hulls, built on first use and kept (LRU)."""
        return HullCache(HULL_CACHE_SIZE)

    def __repr__(self) -> str:
        return (
            f"ReferenceHull(name={self.name!r}, entries={len(self)}, "
            f"elements={len(self.elements)}, scheme={self.scheme!r})"
        )

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
        self._hosted.clear()

    @property
    def cached_systems(self) -> int:
        """Number of chemical-system hulls currently cached."""
        return len(self._hulls)

    def _hulls_for(
        self, systems: Sequence[tuple[str, ...]], pool: Executor | None = None
    ) -> dict[tuple[str, ...], ChemsysHull | Exception]:
        """Hulls of ``systems`` (sorted tuples): cached ones reused, the rest built in one batch
        (in ``pool``'s worker processes when given: same hulls, see ``genflow.hull.pool``).

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
        if pool is not None and len(todo) > TASK_SYSTEMS:
            tasks = (todo[i : i + TASK_SYSTEMS] for i in range(0, len(todo), TASK_SYSTEMS))
            built = build_in_pool(pool, (self._hull_specs(task) for task in tasks))
        else:
            built = build_chemsys_hulls(self._hull_specs(todo))
        for system, hull in zip(todo, built, strict=True):
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
        workers: int = 1,
    ) -> HullScores:
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
        workers : int
            Processes that build the hulls new to this call (``genflow.hull.pool``; used
            when at least ``MIN_PARALLEL_SYSTEMS`` are new, since a pool takes ~1 s to
            start). Scores are identical for any value.

        Returns
        -------
        HullScores
            A sequence of ``HullScore``, one per input row, in input order, held as columns
            (``e_d``, ``e_form``, ``is_stable``, ... arrays) and built per row only when read.
            Rows that cannot be scored (malformed composition, unknown element, element
            absent from the hull, non-finite energy, a hull that cannot be built) carry
            ``error`` and no energies; the other rows are scored normally.
        """
        if len(compositions) != len(energies_per_atom):
            raise ValueError(
                f"{len(compositions)} compositions but {len(energies_per_atom)} energies"
            )
        batch = self._parse(compositions, energies_per_atom)
        counts = np.bincount(batch.system_of, minlength=len(batch.systems))
        host_of = self._assign_hosts(batch.systems, counts)
        needed = sorted(set(host_of))
        hulls: dict[System, ChemsysHull | Exception] = {}
        chunks = [needed[i : i + _BUILD_CHUNK] for i in range(0, len(needed), _BUILD_CHUNK)]
        n_new = sum(h not in self._hulls for h in needed)
        with hull_pool(workers, n_new) as pool:
            for chunk in track(chunks, "building chemical-system hulls", enabled=progress):
                hulls.update(self._hulls_for(chunk, pool))
        good = [h for h in needed if isinstance(hulls[h], ChemsysHull)]
        index = {h: j for j, h in enumerate(good)}
        host_index = np.asarray([index.get(h, -1) for h in host_of], dtype=np.int64)
        errors = batch.errors
        for j in np.flatnonzero(host_index < 0).tolist():  # qhull failure: only these rows fail
            msg = f"hull {self.name!r} of {chemsys_string(host_of[j])} could not be evaluated: "
            for c in np.flatnonzero(batch.system_of == j).tolist():
                errors[int(batch.rows[c])] = msg + str(hulls[host_of[j]])
        for system, host in zip(batch.systems, host_of, strict=True):
            if host != system and host in index:
                self._hosted[system] = host
        cand = np.flatnonzero(host_index[batch.system_of] >= 0)
        e_hull_c, rows_c, amounts_c = evaluate_batch(
            batch, cand, host_index, good, [hulls[h] for h in good], self._sym_idx
        )
        n, width = len(compositions), rows_c.shape[1]
        at = batch.rows[cand]
        e_hull, e_form = np.full(n, np.nan), np.full(n, np.nan)
        vertex_rows, amounts = np.full((n, width), -1, dtype=np.int64), np.zeros((n, width))
        e_hull[at], vertex_rows[at], amounts[at] = e_hull_c, rows_c, amounts_c
        e_form[batch.rows] = batch_formation_energies(batch, self._mu)
        evaluated = np.zeros(n, dtype=bool)
        evaluated[at] = True
        for c in cand[np.isnan(e_hull_c)].tolist():
            where = chemsys_string(good[host_index[batch.system_of[c]]])
            i = int(batch.rows[c])
            formula = reduced_formula(batch.pairs[i])
            msg = f"hull {self.name!r} of {where} could not be evaluated: no facet contains"
            errors[i] = f"{msg} {formula}"
        return HullScores(
            pairs=batch.pairs,
            energies=batch.energies,
            e_hull=e_hull,
            e_form=e_form,
            vertex_rows=vertex_rows,
            amounts=amounts,
            errors=errors,
            evaluated=evaluated,
            formula_of=self.formula,
            coverage=functools.partial(Coverage.of, self),
        )

    def _parse(
        self, compositions: Sequence[CompositionLike], energies_per_atom: Sequence[float]
    ) -> ParsedBatch:
        return parse_batch(
            compositions,
            energies_per_atom,
            sym_idx=self._sym_idx,
            symbols=self._symbols,
            elements=self.elements,
            hull_name=self.name,
        )

    def _assign_hosts(self, systems: Sequence[System], counts: np.ndarray) -> list[System]:
        """The system whose hull scores each of ``systems`` (itself or a superset).

        A cached hull of the system itself, or the cached superset an earlier call used, is
        taken without search; the other systems go through ``assign_hosts`` (smallest batch
        superset), then a cached superset is used when it is cheap enough to evaluate on.
        """
        host_of: list[System | None] = [None] * len(systems)
        todo: dict[System, int] = {}
        for j, system in enumerate(systems):
            if system in self._hulls:
                host_of[j] = system
                continue
            host = self._hosted.get(system)
            if host is not None and host in self._hulls:
                host_of[j] = host
            else:
                todo[system] = j
        for host, members in assign_hosts(todo).items():
            n = int(sum(counts[todo[s]] for s in members))
            superset = (
                None if host in self._hulls else self._hulls.superset(host, _REUSE_MAX_PAIRS, n)
            )
            for s in members:
                host_of[todo[s]] = superset or host
        return host_of  # type: ignore[return-value]

    def formation_energy(
        self, compositions: Sequence[CompositionLike], energies_per_atom: Sequence[float]
    ) -> np.ndarray:
        """Formation energies per atom (E_f of ``score``, eV/atom), without building hulls.

        NaN for rows ``score`` would reject (bad composition or energy, uncovered element).
        """
        batch = self._parse(compositions, energies_per_atom)
        out = np.full(len(compositions), np.nan)
        out[batch.rows] = batch_formation_energies(batch, self._mu)
        return out
