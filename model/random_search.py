"""AIRSS-style random structure search: the baseline generator of Yang et al. 2023 (§3.3, App. 8).

For one composition, each structure is (Pickard & Needs 2011, AIRSS; as the UniMat paper
describes its baseline):

1. a random space group compatible with the composition and a random symmetric placement of
   the atoms (``pyxtal.random_crystal``) at a target volume
   :math:`V = s \\cdot \\sum_i \\tfrac43 \\pi r_i^3`, where :math:`r_i` is the atomic radius
   of atom i (pymatgen ``Element.atomic_radius``) and the scale ``s`` is drawn uniformly from
   ``volume_scale`` (default 0.4-1.2);
2. pre-relaxed at fixed cell with a purely repulsive soft-sphere pair potential
   :math:`E = \\sum_{i<j} \\tfrac{\\epsilon}{2} (1 - r_{ij}/\\sigma_{ij})^2` for
   :math:`r_{ij} < \\sigma_{ij}` (zero beyond), :math:`\\sigma_{ij} = f (r_i + r_j)` with
   ``sphere_factor`` f (default 0.5: spheres of half the atomic radius, packing fraction
   ≤ 0.31 at the densest scale 0.4), minimised by ASE's FIRE at fixed cell; a structure whose
   spheres still overlap after ``steps`` is discarded and drawn again.

:class:`RandomSearchGenerator` is the same search as a campaign generator (``generator.kind:
random``): N per composition, seeded, one row per structure (a composition no space group
places is a row with its reason).

The output carries provenance in ``structure.properties``: generator, space group, volume
scale, seed, and the smallest ratio ``r_ij / σ_ij`` after the pre-relax.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any

import numpy as np
from pymatgen.core import Composition, Element, Structure

from genflow.model.registry import checkpoint_hash
from genflow.model.rows import SampleRow, structures_or_raise

__all__ = [
    "MODEL_NAME",
    "RandomSearchGenerator",
    "random_structure",
    "random_structures",
    "soft_sphere_relax",
    "target_volume",
]

#: ``provenance.model_name`` of every random-search candidate.
MODEL_NAME = "random-search"


def target_volume(composition: Composition, scale: float) -> float:
    """``scale`` × the summed atomic-sphere volumes of the composition's atoms (Å³)."""
    radii = {el: float(el.atomic_radius or 1.5) for el in composition.elements}
    return scale * sum(4.0 / 3.0 * np.pi * radii[el] ** 3 * n for el, n in composition.items())


def _sigma(structure: Structure, sphere_factor: float) -> np.ndarray:
    r = np.array([float(Element(s.specie.symbol).atomic_radius or 1.5) for s in structure])
    return sphere_factor * (r[:, None] + r[None, :])


def soft_sphere_relax(
    structure: Structure, *, sphere_factor: float = 0.5, steps: int = 2000, fmax: float = 1e-4
) -> tuple[Structure, float]:
    """Pre-relax with the repulsive soft-sphere potential (module docstring); fixed cell.

    Returns the relaxed structure and the smallest ``r_ij / σ_ij`` (≥ 1 means no overlap).
    """
    from ase.calculators.calculator import Calculator, all_changes
    from ase.neighborlist import neighbor_list
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    sigma = _sigma(structure, sphere_factor)

    class SoftSphere(Calculator):
        implemented_properties = ("energy", "forces")

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            # every pair within reach, periodic images (and an atom's own) included
            i, j, r, d = neighbor_list("ijdD", self.atoms, float(sigma.max()))  # d = r_j - r_i
            sig = sigma[i, j]
            overlap = np.clip(1.0 - r / sig, 0.0, None)
            energy = 0.25 * np.sum(overlap**2)  # each pair listed twice: ε/2 per pair, ε = 1
            forces = np.zeros((len(self.atoms), 3))
            np.add.at(forces, i, -(overlap / sig / r)[:, None] * d)  # pushes i away from j
            self.results = {"energy": float(energy), "forces": forces}

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = SoftSphere()
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps)
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    i, j, r = neighbor_list("ijd", atoms, float(sigma.max()) * 1.5)
    ratio = r / sigma[i, j] if len(r) else np.array([np.inf])
    return relaxed, float(ratio.min())


@functools.cache
def _compatible_groups(counts: tuple[int, ...]) -> tuple[int, ...]:
    """Space groups whose Wyckoff positions can host these atom counts (pyxtal's check)."""
    from pyxtal.symmetry import Group

    return tuple(g for g in range(1, 231) if Group(g).check_compatible(list(counts))[0])


def random_structure(
    composition: Composition | str,
    rng: np.random.Generator,
    *,
    volume_scale: tuple[float, float] = (0.4, 1.2),
    sphere_factor: float = 0.5,
    max_attempts: int = 20,
) -> Structure:
    """One random symmetric structure of ``composition`` (a formula unit as given), pre-relaxed."""
    from pyxtal import pyxtal

    comp = Composition(composition)
    species = [el.symbol for el in comp.elements]
    counts = [round(comp[el]) for el in comp.elements]
    groups = _compatible_groups(tuple(counts))
    if not groups:
        raise ValueError(f"random_structure: no space group fits {comp.formula}")
    last: Exception | None = None
    for _ in range(max_attempts):
        scale = float(rng.uniform(*volume_scale))
        group = int(rng.choice(groups))
        crystal = pyxtal()
        try:
            crystal.from_random(
                3, group, species, counts, factor=1.0,
                random_state=int(rng.integers(2**31)), force_pass=False,
            )  # fmt: skip
        except Exception as exc:  # this group cannot host the composition: draw another
            last = exc
            continue
        if not crystal.valid:
            continue
        s = crystal.to_pymatgen()
        s.scale_lattice(target_volume(s.composition, scale))
        relaxed, ratio = soft_sphere_relax(s, sphere_factor=sphere_factor)
        if ratio < 1.0 - 1e-3:  # spheres still overlap (jammed): discard and draw again
            last = RuntimeError(f"soft spheres still overlap (r/σ = {ratio:.3f})")
            continue
        props: dict[str, Any] = {
            "generator": MODEL_NAME, "space_group": group, "volume_scale": scale,
            "min_overlap_ratio": ratio,
        }  # fmt: skip
        relaxed.properties.update(props)
        return relaxed
    raise RuntimeError(f"random_structure: no space group placed {comp.formula} ({last})")


def random_structures(
    composition: Composition | str, n: int, *, seed: int = 0, **kwargs: Any
) -> list[Structure]:
    """``n`` random structures of one composition (seeded: the same call, the same output)."""
    rng = np.random.default_rng([seed, zlib.crc32(Composition(composition).formula.encode())])
    out = []
    for i in range(n):
        s = random_structure(composition, rng, **kwargs)
        s.properties["seed"] = seed
        s.properties["index"] = i
        out.append(s)
    return out


class RandomSearchGenerator:
    """The random search as a generator: ``sample_rows`` and ``provenance`` like the models'.

    Parameters
    ----------
    volume_scale, sphere_factor, max_attempts
        As :func:`random_structure`; recorded in :attr:`provenance`.
    """

    def __init__(
        self,
        volume_scale: tuple[float, float] = (0.4, 1.2),
        sphere_factor: float = 0.5,
        max_attempts: int = 20,
    ) -> None:
        lo, hi = (float(v) for v in volume_scale)
        if not 0 < lo <= hi:
            raise ValueError(f"volume_scale must be 0 < low <= high, got {volume_scale}")
        self.volume_scale, self.sphere_factor = (lo, hi), float(sphere_factor)
        self.max_attempts = int(max_attempts)

    @property
    def parameters(self) -> dict[str, Any]:
        """The search's parameters (what ``provenance`` records)."""
        return {
            "volume_scale": list(self.volume_scale),
            "sphere_factor": self.sphere_factor,
            "max_attempts": self.max_attempts,
        }

    @property
    def provenance(self) -> dict[str, Any]:
        """``model_name: random-search``, a hash of the parameters, the parameters, pyxtal."""
        import json
        from importlib.metadata import version

        text = json.dumps(self.parameters, sort_keys=True)
        return {
            "model_name": MODEL_NAME,
            "checkpoint_hash": checkpoint_hash(text.encode(), short=True),
            "parameters": self.parameters,
            "pyxtal_version": version("pyxtal"),
        }

    def sample_rows(
        self, n: int, *, composition: Composition | str | None = None, seed: int = 0, **_: Any
    ) -> list[SampleRow]:
        """``n`` structures of ``composition`` (:func:`random_structures`'s seeding), as rows.

        Raises
        ------
        ValueError
            No composition: random search needs one (there is no unconditional mode).
        """
        if composition is None:
            raise ValueError("random search needs a composition (conditioning.compositions)")
        comp = Composition(composition)
        rng = np.random.default_rng([seed, zlib.crc32(comp.formula.encode())])
        rows = []
        for i in range(n):
            try:
                s = random_structure(
                    comp, rng, volume_scale=self.volume_scale,
                    sphere_factor=self.sphere_factor, max_attempts=self.max_attempts,
                )  # fmt: skip
            except (RuntimeError, ValueError) as exc:
                rows.append(SampleRow(i, None, str(exc), comp.formula))
                continue
            s.properties.update(seed=seed, index=i)
            rows.append(SampleRow(i, s, None, comp.formula))
        return rows

    def sample(self, n: int, **kwargs: Any) -> list[Structure]:
        """:meth:`sample_rows` as structures; a failed sample raises (its reason)."""
        return structures_or_raise(self.sample_rows(n, **kwargs))
