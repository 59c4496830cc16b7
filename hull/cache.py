"""LRU cache of chemical-system hulls that also answers "which cached hull contains this system".

The lower hull restricted to a face of the composition simplex is that face's own hull (same
entries, same elemental references), so a cached Li-Fe-O hull scores Li-O, Fe-O or Li
candidates exactly. ``HullCache.superset`` finds the smallest cached system containing a
given one through a per-element index of the cached systems.
"""

from __future__ import annotations

from collections import OrderedDict

from genflow.hull.engine import ChemsysHull

__all__ = ["HullCache"]

System = tuple[str, ...]


class HullCache:
    """Chemical system (sorted symbols) → ``ChemsysHull``, least recently used evicted first.

    Parameters
    ----------
    size : int
        Most hulls kept (a few kB each).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._hulls: OrderedDict[System, ChemsysHull] = OrderedDict()
        self._by_element: dict[str, set[System]] = {}

    def __len__(self) -> int:
        return len(self._hulls)

    def __contains__(self, system: object) -> bool:
        return system in self._hulls

    def get(self, system: System) -> ChemsysHull | None:
        """The cached hull of ``system`` (marked as recently used), or None."""
        hull = self._hulls.get(system)
        if hull is not None:
            self._hulls.move_to_end(system)
        return hull

    def put(self, system: System, hull: ChemsysHull) -> None:
        """Cache ``hull`` under ``system``, evicting the least recently used beyond ``size``."""
        self._hulls[system] = hull
        for el in system:
            self._by_element.setdefault(el, set()).add(system)
        while len(self._hulls) > self.size:
            old, _ = self._hulls.popitem(last=False)
            for el in old:
                self._by_element[el].discard(old)

    def clear(self) -> None:
        """Forget every hull."""
        self._hulls.clear()
        self._by_element.clear()

    def superset(self, system: System, max_pairs: int, n_candidates: int) -> System | None:
        """Smallest cached system containing ``system``, if scoring on it is cheap enough.

        Evaluating on a larger hull costs candidates x its facets; beyond ``max_pairs`` a
        fresh build of the system's own hull is cheaper, and None is returned.
        """
        sets = [self._by_element.get(el) for el in system]
        if not all(sets):
            return None
        found = set.intersection(*sets)  # type: ignore[arg-type]
        if not found:
            return None
        best = min(found, key=lambda s: (len(s), s))
        if n_candidates * len(self._hulls[best].facets) > max_pairs:
            return None
        return best

    def is_consistent(self) -> bool:
        """Every indexed system is cached and every cached system indexed (for tests)."""
        indexed = {s for systems in self._by_element.values() for s in systems}
        return indexed == set(self._hulls)
