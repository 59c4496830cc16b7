"""The StructRepDiff structure representation R and its normalisation.

Sinha, Jia & Fung (2024) diffuse a fixed-length, invariant vector per crystal:

.. math::

    R = [\\,D_{EAD} ;\\ x_1/N, …, x_E/N ;\\ N ;\\ a, b, c, α, β, γ\\,]          (R-1)

where D_EAD is the pooled descriptor of Eq. EAD-3 (:mod:`.ead`), x_e the number of atoms of the
dataset's e-th element (elements sorted by atomic number), N the atom count and (a, b, c, α,
β, γ) the lattice parameters (Å, degrees) of the Niggli-reduced cell — the reduction makes the
lattice part independent of the cell choice, as the EAD part is of rotations, translations,
permutations and periodic images. For diffusion each entry is standardised with dataset
statistics (:class:`RepNorm`).

Only the non-EAD parts decode directly (:func:`decode_composition`, :func:`decode_lattice`);
positions come back by gradient reconstruction (:mod:`.reconstruct`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from pymatgen.core import Lattice, Structure

from genflow.model.structrepdiff.ead import EADParams, image_offsets, pad_offsets, pooled_ead

__all__ = [
    "RepNorm",
    "RepSpec",
    "canonical",
    "decode_composition",
    "decode_lattice",
    "encode",
    "prepare",
]


@dataclass(frozen=True)
class RepSpec:
    """Layout of R (Eq. R-1): descriptor settings, the element list and the largest N.

    Attributes
    ----------
    elements
        Element symbols of the dataset, sorted by atomic number.
    max_atoms
        Atom-count padding N_max for the fixed-shape descriptor.
    ead
        Descriptor hyperparameters.
    """

    elements: tuple[str, ...]
    max_atoms: int
    ead: EADParams = field(default_factory=EADParams)

    @property
    def n_ead(self) -> int:
        """Length of the pooled EAD block."""
        return self.ead.pooled_size

    @property
    def comp_slice(self) -> slice:
        """Entries of the composition fractions."""
        return slice(self.n_ead, self.n_ead + len(self.elements))

    @property
    def natoms_index(self) -> int:
        """Entry of the atom count N."""
        return self.n_ead + len(self.elements)

    @property
    def lattice_slice(self) -> slice:
        """Entries of (a, b, c, α, β, γ)."""
        return slice(self.natoms_index + 1, self.natoms_index + 7)

    @property
    def dim(self) -> int:
        """Length of R."""
        return self.natoms_index + 7

    def to_dict(self) -> dict:
        """JSON-able form (checkpoint ``meta.json``)."""
        return {
            "elements": list(self.elements),
            "max_atoms": self.max_atoms,
            "ead": self.ead.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RepSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["elements"]), int(d["max_atoms"]), EADParams.from_dict(d["ead"]))

    @classmethod
    def from_structures(cls, structures: Iterable[Structure], ead: EADParams | None = None):
        """Spec covering every element and atom count in ``structures``."""
        structures = list(structures)
        els = {el for s in structures for el in s.composition.elements}
        return cls(
            tuple(e.symbol for e in sorted(els, key=lambda e: e.Z)),
            max(len(s) for s in structures),
            ead or EADParams(),
        )


@dataclass(frozen=True)
class RepNorm:
    """Per-entry standardisation of R: ``(R − mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, reps: np.ndarray, min_std: float = 1e-3) -> RepNorm:
        """Statistics of an (n, dim) array; constant entries get ``std = 1``."""
        std = reps.std(axis=0)
        return cls(reps.mean(axis=0), np.where(std < min_std, 1.0, std))

    def normalize(self, reps: np.ndarray) -> np.ndarray:
        """Standardise."""
        return (reps - self.mean) / self.std

    def denormalize(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`."""
        return np.asarray(z) * self.std + self.mean

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> RepNorm:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["std"], np.float64))


def canonical(structure: Structure) -> Structure:
    """The Niggli-reduced cell of ``structure`` (positions wrapped into it)."""
    return structure.get_reduced_structure("niggli")


@dataclass(frozen=True)
class Prepared:
    """Host arrays for :func:`~.ead.pooled_ead` of one structure (atoms padded to N_max)."""

    positions: np.ndarray  # (N_max, 3) Å
    lattice: np.ndarray  # (3, 3) rows
    weights: np.ndarray  # (N_max,) atomic numbers
    atom_mask: np.ndarray  # (N_max,) bool
    offsets: np.ndarray  # (K, 3) unpadded


def prepare(structure: Structure, spec: RepSpec) -> Prepared:
    """Arrays for the descriptor of ``structure`` (Niggli cell); raises ``ValueError`` if it
    has more than ``spec.max_atoms`` atoms or an element outside ``spec.elements``."""
    if len(structure) > spec.max_atoms:
        raise ValueError(f"{len(structure)} atoms exceed this representation's {spec.max_atoms}")
    unknown = {e.symbol for e in structure.composition.elements} - set(spec.elements)
    if unknown:
        raise ValueError(f"element(s) {sorted(unknown)} not in this representation's elements")
    if not structure.is_ordered:
        raise ValueError("disordered structure (partial occupancies) cannot be encoded")
    s = canonical(structure)
    n = len(s)
    pos = np.zeros((spec.max_atoms, 3), np.float32)
    pos[:n] = s.cart_coords
    weights = np.zeros(spec.max_atoms, np.float32)
    weights[:n] = [site.specie.Z for site in s]
    mask = np.arange(spec.max_atoms) < n
    lat = np.asarray(s.lattice.matrix, np.float32)
    return Prepared(pos, lat, weights, mask, image_offsets(lat, spec.ead.cutoff))


@functools.partial(jax.jit, static_argnums=(6,))
def _pooled_batch(pos, lat, w, mask, off, off_mask, params: EADParams) -> jax.Array:
    return jax.vmap(pooled_ead, in_axes=(0, 0, 0, 0, 0, 0, None))(
        pos, lat, w, mask, off, off_mask, params
    )


def _bucket(k: int) -> int:
    """Pad translation counts to a few sizes so that few programs are compiled."""
    size = 16
    while size < k:
        size = size * 2 if size < 256 else size + 256
    return size


def pooled_many(prepared: Sequence[Prepared], spec: RepSpec, *, budget: float = 3e7) -> np.ndarray:
    """Pooled EAD (Eq. EAD-3) of many prepared structures, batched by padded size."""
    out = np.zeros((len(prepared), spec.n_ead), np.float32)
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(_bucket(len(p.offsets)), []).append(i)
    per_pair = spec.ead.n_radial + (spec.ead.l_max + 1) ** 2 + 8
    for k, idx in sorted(groups.items()):
        chunk = int(max(1, min(64, budget // (spec.max_atoms**2 * k * per_pair))))
        for start in range(0, len(idx), chunk):
            sel = idx[start : start + chunk]
            take = sel + [sel[-1]] * (chunk - len(sel))  # fixed batch: one compile per k
            offs = [pad_offsets(prepared[i].offsets, k) for i in take]
            res = _pooled_batch(
                jnp.asarray(np.stack([prepared[i].positions for i in take])),
                jnp.asarray(np.stack([prepared[i].lattice for i in take])),
                jnp.asarray(np.stack([prepared[i].weights for i in take])),
                jnp.asarray(np.stack([prepared[i].atom_mask for i in take])),
                jnp.asarray(np.stack([o[0] for o in offs])),
                jnp.asarray(np.stack([o[1] for o in offs])),
                spec.ead,
            )
            out[sel] = np.asarray(res)[: len(sel)]
    return out


def composition_part(structure: Structure, spec: RepSpec) -> np.ndarray:
    """[x_1/N, …, x_E/N, N] of Eq. R-1."""
    amounts = structure.composition.get_el_amt_dict()
    n = len(structure)
    frac = [amounts.get(e, 0.0) / n for e in spec.elements]
    return np.asarray([*frac, float(n)], np.float32)


def lattice_part(structure: Structure) -> np.ndarray:
    """(a, b, c, α, β, γ) of the Niggli cell (Å, degrees)."""
    return np.asarray(canonical(structure).lattice.parameters, np.float32)


def encode(structures: Sequence[Structure], spec: RepSpec) -> tuple[np.ndarray, list[str | None]]:
    """R (Eq. R-1, unnormalised) for every structure.

    Returns
    -------
    reps
        (n, spec.dim) float32; rows that failed are NaN.
    errors
        Per structure ``None`` or the reason it could not be encoded.
    """
    reps = np.full((len(structures), spec.dim), np.nan, np.float32)
    errors: list[str | None] = [None] * len(structures)
    prepared, ok = [], []
    for i, s in enumerate(structures):
        try:
            prepared.append(prepare(s, spec))
            ok.append(i)
        except ValueError as exc:
            errors[i] = str(exc)
    if ok:
        reps[ok, : spec.n_ead] = pooled_many(prepared, spec)
        for i in ok:
            reps[i, spec.n_ead : spec.natoms_index + 1] = composition_part(structures[i], spec)
            reps[i, spec.lattice_slice] = lattice_part(structures[i])
    return reps, errors


def decode_composition(rep: np.ndarray, spec: RepSpec) -> list[str]:
    """Species list (sorted by Z, repeated by count) from an unnormalised R.

    N = round(R_N) clipped to [1, N_max]; counts by largest-remainder rounding of the
    (non-negative) fractions times N, so they sum to N exactly.
    """
    rep = np.asarray(rep, np.float64)
    n = int(np.clip(np.rint(rep[spec.natoms_index]), 1, spec.max_atoms))
    frac = np.clip(rep[spec.comp_slice], 0.0, None)
    if frac.sum() <= 0:
        frac = np.ones_like(frac)
    target = frac / frac.sum() * n
    counts = np.floor(target).astype(int)
    for k in np.argsort(-(target - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    return [e for e, c in zip(spec.elements, counts, strict=True) for _ in range(c)]


def decode_lattice(rep: np.ndarray, spec: RepSpec) -> Lattice:
    """Lattice from (a, b, c, α, β, γ) of an unnormalised R; raises ``ValueError`` if the
    angles do not describe a cell (lengths are clipped to ≥ 1 Å, angles to [20°, 160°])."""
    a, b, c, al, be, ga = np.asarray(rep, np.float64)[spec.lattice_slice]
    lengths = np.maximum([a, b, c], 1.0)
    angles = np.clip([al, be, ga], 20.0, 160.0)
    lattice = Lattice.from_parameters(*lengths, *angles)
    if not np.isfinite(lattice.volume) or lattice.volume < 1.0:
        raise ValueError(f"lattice parameters {np.round([a, b, c, al, be, ga], 2)} give no cell")
    return lattice
