"""StructRepDiff representation: invariances of R, periodic images, gradients (real rows)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.core.operations import SymmOp

from genflow.model.data import load_dataset
from genflow.model.structrepdiff.ead import EADParams, image_offsets, pad_offsets, pooled_ead
from genflow.model.structrepdiff.representation import (
    RepSpec,
    decode_composition,
    decode_lattice,
    encode,
    prepare,
)

PARAMS = EADParams(cutoff=4.0, etas=(0.5, 4.0), r_s=(1.0, 2.0, 3.0), l_max=2)


@pytest.fixture(scope="module")
def rows() -> list[Structure]:
    """Two Perov-5 and two MP-20 rows (bundled data; several elements, up to 20 atoms)."""
    p5 = load_dataset("perov_5:test", limit=2).structures
    mp = load_dataset("mp_20:test", limit=6).structures
    return [*p5, *sorted(mp, key=len)[-2:]]


@pytest.fixture(scope="module")
def spec(rows) -> RepSpec:
    return RepSpec.from_structures(rows, PARAMS)


def _reps(structures, spec) -> np.ndarray:
    reps, errors = encode(structures, spec)
    assert errors == [None] * len(structures), errors
    return reps


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_r_layout_and_decoding(rows, spec):
    reps = _reps(rows, spec)
    assert reps.shape == (len(rows), spec.dim) and np.isfinite(reps).all()
    for s, r in zip(rows, reps, strict=True):
        assert sorted(decode_composition(r, spec)) == sorted(x.specie.symbol for x in s)
        lat = decode_lattice(r, spec)
        assert lat.volume == pytest.approx(s.volume, rel=1e-4)
    # the descriptor really depends on the structure: different rows, different R
    assert np.abs(reps[0] - reps[1]).max() > 1e-3


def test_translation_rotation_permutation_invariance(rows, spec):
    base = _reps(rows, spec)
    moved = []
    for k, s in enumerate(rows):
        t = s.copy()
        t.translate_sites(range(len(t)), [0.37, -1.21, 2.9], frac_coords=False)
        op = SymmOp.from_rotation_and_translation(_rotation(k))
        t = Structure(
            Lattice(op.operate_multi(t.lattice.matrix)),
            t.species,
            t.frac_coords,
        )
        perm = np.random.default_rng(k).permutation(len(t))
        t = Structure(t.lattice, [t.species[i] for i in perm], t.frac_coords[perm])
        moved.append(t)
    np.testing.assert_allclose(_reps(moved, spec), base, rtol=2e-4, atol=2e-3)


def test_periodic_image_and_cell_choice_invariance(rows, spec):
    base = _reps(rows, spec)
    shifted, recelled = [], []
    for k, s in enumerate(rows):
        shift = np.random.default_rng(k).integers(-3, 4, size=(len(s), 3))
        shifted.append(Structure(s.lattice, s.species, s.frac_coords + shift))
        # another primitive cell of the same crystal: a' = a + b, b' = b, c' = c + a
        m = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
        recelled.append(
            Structure(
                Lattice(m @ s.lattice.matrix), s.species, s.cart_coords, coords_are_cartesian=True
            )
        )
    np.testing.assert_allclose(_reps(shifted, spec), base, rtol=2e-4, atol=2e-3)
    np.testing.assert_allclose(_reps(recelled, spec), base, rtol=2e-4, atol=2e-3)
    # a different structure is not "invariant": displacing one atom changes R
    s = rows[2].copy()
    s.translate_sites([0], [0.3, 0.0, 0.0], frac_coords=False)
    assert np.abs(_reps([s], spec)[0] - base[2]).max() > 1e-2


def _brute_force(s: Structure, params: EADParams) -> tuple[np.ndarray, float]:
    """Numpy EAD over a generous image box (no image-range reasoning) for one structure."""
    cart, lat, z = s.cart_coords, s.lattice.matrix, np.array([x.specie.Z for x in s])
    box = np.array(list(itertools.product(range(-6, 7), repeat=3)))
    shifts = box @ lat
    powers = [(lx, ly, lz) for lx in range(3) for ly in range(3) for lz in range(3)]
    rho = np.zeros((len(s), params.l_max + 1, len(params.etas), len(params.r_s)))
    dmin = np.inf
    for i in range(len(s)):
        vec = (cart[None, :, :] + shifts[:, None, :] - cart[i]).reshape(-1, 3)
        zj = np.tile(z, len(box))
        r = np.linalg.norm(vec, axis=1)
        keep = (r > 1e-8) & (r < params.cutoff)
        vec, r, zj = vec[keep], r[keep], zj[keep]
        dmin = min(dmin, r.min())
        fc = 0.5 * (np.cos(np.pi * r / params.cutoff) + 1)
        u = vec / r[:, None]
        for (ei, eta), (si, rs) in itertools.product(enumerate(params.etas), enumerate(params.r_s)):
            g = zj * fc * np.exp(-eta * (r - rs) ** 2)
            for lx, ly, lz in powers:
                lval = lx + ly + lz
                if lval > params.l_max:
                    continue
                c = math.factorial(lval) / (
                    math.factorial(lx) * math.factorial(ly) * math.factorial(lz)
                )
                rho[i, lval, ei, si] += (
                    c * np.sum(g * u[:, 0] ** lx * u[:, 1] ** ly * u[:, 2] ** lz) ** 2
                )
    return rho.reshape(len(s), -1), dmin


def test_skewed_cell_matches_brute_force():
    """A strongly skewed cell: image range from plane spacings, checked against brute force."""
    lat = Lattice.from_parameters(2.6, 2.9, 7.5, 80.0, 100.0, 35.0)
    s = Structure(lat, ["Si", "O", "O"], [[0.1, 0.2, 0.3], [0.6, 0.1, 0.8], [0.35, 0.7, 0.05]])
    params = EADParams(cutoff=4.5, etas=(0.5, 4.0), r_s=(1.0, 2.5), l_max=2)
    offs, mask = pad_offsets(image_offsets(lat.matrix, params.cutoff), 512)
    pos = jnp.asarray(s.cart_coords, jnp.float32)
    w = jnp.asarray([x.specie.Z for x in s], jnp.float32)
    d = np.asarray(
        pooled_ead(
            pos,
            jnp.asarray(lat.matrix, jnp.float32),
            w,
            jnp.ones(3, bool),
            jnp.asarray(offs),
            jnp.asarray(mask),
            params,
        )
    )
    rho, dmin = _brute_force(s, params)
    f = params.n_features
    np.testing.assert_allclose(d[:f], rho.max(axis=0), rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(d[f : 2 * f], rho.min(axis=0), rtol=1e-3, atol=1e-2)
    assert d[-1] == pytest.approx(dmin, rel=1e-4)
    assert dmin < params.cutoff  # the check is not vacuous


def test_gradient_is_finite_and_nonzero(rows, spec):
    p = prepare(rows[2], spec)
    n = len(rows[2])
    offs, mask = pad_offsets(p.offsets, len(p.offsets))

    def f(x):
        return pooled_ead(
            x,
            jnp.asarray(p.lattice),
            jnp.asarray(p.weights[:n]),
            jnp.ones(n, bool),
            jnp.asarray(offs),
            jnp.asarray(mask),
            PARAMS,
        ).sum()

    g = jax.jit(jax.grad(f))(jnp.asarray(p.positions[:n]))
    assert np.isfinite(np.asarray(g)).all() and np.abs(np.asarray(g)).max() > 0


def test_bad_rows_are_reported(spec):
    big = Structure(
        Lattice.cubic(10),
        ["Ba"] * (spec.max_atoms + 1),
        np.random.default_rng(0).random((spec.max_atoms + 1, 3)),
    )
    alien = Structure(Lattice.cubic(4), ["U"], [[0, 0, 0]])
    reps, errors = encode([big, alien], spec)
    assert "exceed" in errors[0] and "not in this representation" in errors[1]
    assert np.isnan(reps).all()
