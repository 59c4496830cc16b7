"""Sampling with the bundled checkpoint honours conditioning; CFG with ω=0 = plain sampling."""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pymatgen.core import Composition

from genflow.model import BUNDLED_CHECKPOINT, diffusion, load_generator
from genflow.model.unimat.network import empty_condition
from genflow.model.unimat.sampler import make_denoiser

STEPS = 12  # the config default is 256; conditioning is enforced at any step count
N = 4  # one batch shape for every test, so the sampler compiles once


@pytest.fixture(scope="module")
def gen():
    return load_generator()


def test_provenance_hash_is_sha256_of_checkpoint_files(gen):
    h = hashlib.sha256()
    for f in sorted([BUNDLED_CHECKPOINT / "meta.json", BUNDLED_CHECKPOINT / "params.msgpack"]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    prov = gen.provenance
    assert prov["checkpoint_hash"] == h.hexdigest()
    assert prov["model_name"] == "unimat" and prov["config"]["model"]["base_channels"] > 0
    assert load_generator() is gen  # cached: compiled samplers are reused in one process


def test_exact_composition_is_honoured_exactly(gen):
    structures = gen.sample(N, composition="BaTiO3", num_steps=STEPS, seed=3)
    assert len(structures) == N
    for s in structures:
        assert s.composition == Composition("BaTiO3")
        assert s.properties["conditioning"] == "BaTiO3"  # genflow.core.chem.formula
        assert np.all((s.frac_coords >= 0) & (s.frac_coords < 1))


def test_elements_and_n_atoms_are_honoured(gen):
    structures = gen.sample(N, elements="Sr Ti O", n_atoms=5, num_steps=STEPS, seed=4)
    for s in structures:
        assert {e.symbol for e in s.composition.elements} == {"Sr", "Ti", "O"}
        assert len(s) == 5


def test_elements_only_uses_no_other_element(gen):
    structures = gen.sample(N, elements=["K", "Nb", "O"], num_steps=STEPS, seed=5)
    for s in structures:
        assert {e.symbol for e in s.composition.elements} <= {"K", "Nb", "O"}


def test_same_seed_same_samples_and_bad_requests(gen):
    a = gen.sample(N, composition="BaTiO3", num_steps=STEPS, seed=3)
    b = gen.sample(N, composition="BaTiO3", num_steps=STEPS, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.frac_coords, y.frac_coords)
    with pytest.raises(ValueError, match="element C is not in this"):
        gen.sample(1, composition="Si4C4", num_steps=STEPS)
    with pytest.raises(ValueError, match="4 atoms of O in BaTiO4 exceed max_atoms L=3"):
        gen.sample(1, composition="BaTiO4", num_steps=STEPS)
    with pytest.raises(ValueError, match="n_atoms needs elements"):
        gen.sample(1, n_atoms=5, num_steps=STEPS)
    with pytest.raises(ValueError, match="no composition of Ba O Ti has exactly 2 atoms"):
        gen.sample(1, elements="Ba Ti O", n_atoms=2, num_steps=STEPS)


@pytest.mark.slow
def test_cfg_with_omega_zero_equals_plain_conditional_sampling(gen):
    cond = empty_condition(N, gen.grid, len(gen.aux_names))
    cond["exact"] = jnp.asarray(
        np.broadcast_to(gen._exact_grid(Composition("SrTiO3")), (N, *gen.grid))
    )
    cond["aux"] = jnp.full((N, 1), -1.0)
    cond["aux_mask"] = jnp.ones((N,))
    no_aux = dict(cond, aux=jnp.zeros_like(cond["aux"]), aux_mask=jnp.zeros((N,)))
    sched = diffusion.get_schedule("cosine")
    kw = dict(
        shape_like={"coords": jnp.zeros((N, *gen.grid, 3)), "lattice": jnp.zeros((N, 6))},
        rng=jax.random.key(0),
        schedule=sched,
        num_steps=STEPS,
        gamma=0.1,
    )

    def apply(c):
        return lambda z, lam: gen.model.apply(gen.params, z, lam, c)

    plain = diffusion.sample_loop(model_fn=apply(cond), **kw)
    cfg0 = diffusion.sample_loop(
        model_fn=diffusion.cfg_model_fn(cond_fn=apply(no_aux), aux_fn=apply(cond), guidance=0.0),
        **kw,
    )
    for k in plain:
        np.testing.assert_allclose(plain[k], cfg0[k], rtol=1e-6, atol=1e-6)
    # ω ≠ 0 does change ε̂ (so the equality above is not vacuous) ...
    z = {"coords": jnp.ones((N, *gen.grid, 3)) * 0.1, "lattice": jnp.zeros((N, 6))}
    lam = jnp.zeros((N,))
    guided = diffusion.cfg_model_fn(cond_fn=apply(no_aux), aux_fn=apply(cond), guidance=2.0)
    assert not np.allclose(guided(z, lam)["lattice"], apply(cond)(z, lam)["lattice"])
    # ... and the production denoiser with ω = 0 is that same plain conditional model
    np.testing.assert_array_equal(
        make_denoiser(gen.model, gen.params, cond, guidance=0.0)(z, lam)["coords"],
        apply(cond)(z, lam)["coords"],
    )


@pytest.mark.slow
def test_guided_sampling_with_target_property(gen):
    s = gen.sample(N, properties={"heat_ref": -1.0}, guidance=1.0, num_steps=STEPS, seed=1)
    assert len(s) == N and all(x.lattice.volume > 0 for x in s)
    with pytest.raises(ValueError, match="unknown properties"):
        gen.sample(1, properties={"band_gap": 1.0}, num_steps=STEPS)


def test_an_undecodable_sample_is_a_failure_row_and_the_rest_go_on(gen, monkeypatch):
    import genflow.model.unimat.generator as generator_module

    real = generator_module.decode_many

    def one_bad(coords, lattice, table, occupancy=None):
        structures, errors = real(coords, lattice, table, occupancy=occupancy)
        return [None, *structures[1:]], ["LinAlgError: singular lattice", *errors[1:]]

    monkeypatch.setattr(generator_module, "decode_many", one_bad)
    with pytest.raises(RuntimeError, match="did not decode"):
        gen.sample(N, composition="BaTiO3", num_steps=STEPS, seed=3)
    rows = gen.sample_rows(N, composition="BaTiO3", num_steps=STEPS, seed=3)
    assert rows[0].structure is None and "LinAlgError" in rows[0].error
    assert rows[0].index == 0
    assert [r.structure.properties["index"] for r in rows[1:]] == [1, 2, 3]
