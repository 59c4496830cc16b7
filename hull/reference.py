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

import numpy as np

from genflow.core.progress import track
from genflow.hull.cache import HullCache
from genflow.hull.coverage import Coverage
from genflow.hull.engine import ChemsysHull, HullSpec, assign_hosts, build_chemsys_hulls
from genflow.hull.records import HullScore
from genflow.hull.scoring import (
    Parsed,
    candidate_formation_energies,
    parse_candidates,
    score_candidates,
)
from genflow.hull.table import CompositionLike, ReferenceTable

__all__ = ["HULL_CACHE_SIZE", "CompositionLike", "ReferenceHull"]

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
            extra=Coverage.of(self).fields_many([c.pairs for c in usable]),
        )
        for c, score in zip(usable, scores, strict=True):
            out[c.row] = score
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
