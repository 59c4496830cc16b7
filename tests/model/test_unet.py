"""3D U-Net: shapes on odd sub-table grids, conditioning and property-dropout behaviour."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genflow.model.diffusion import timestep_embedding
from genflow.model.unimat.network import condition_from_coords, drop_conditioning, empty_condition
from genflow.model.unimat.unet import UNet3D

GRID = (3, 5, 7)  # odd everywhere: exercises padding and cropping


@pytest.fixture(scope="module")
def net_and_params():
    net = UNet3D(
        base_channels=8,
        channel_mults=(1, 2, 4),
        num_blocks=1,
        attn_levels=(1,),
        head_dim=8,
        dropout=0.5,
        grid_shape=GRID[1:],
        num_aux=2,
    )
    z = {"coords": jnp.zeros((2, *GRID, 3)), "lattice": jnp.zeros((2, 6))}
    params = net.init(jax.random.key(0), z, jnp.zeros((2,)), empty_condition(2, GRID, 2))
    # Zero-initialised output layers make ε ≡ 0 at init; perturb so outputs depend on inputs.
    rng = np.random.default_rng(0)  # numpy: one eager JAX op per leaf would compile each
    params = jax.tree.map(lambda p: p + 0.05 * rng.standard_normal(p.shape, np.float32), params)
    return net, params


def _inputs(batch=2, seed=1):
    k = jax.random.split(jax.random.key(seed), 3)
    z = {
        "coords": jax.random.normal(k[0], (batch, *GRID, 3)),
        "lattice": jax.random.normal(k[1], (batch, 6)),
    }
    return z, jnp.linspace(-5.0, 5.0, batch)


def test_output_shapes_and_finiteness(net_and_params):
    net, params = net_and_params
    z, lam = _inputs()
    out = net.apply(params, z, lam, empty_condition(2, GRID, 2))
    assert out["coords"].shape == (2, *GRID, 3)
    assert out["lattice"].shape == (2, 6)
    assert all(bool(jnp.isfinite(v).all()) for v in out.values())


def test_conditioning_and_time_change_the_output(net_and_params):
    net, params = net_and_params
    z, lam = _inputs()
    base = net.apply(params, z, lam, empty_condition(2, GRID, 2))
    cond = empty_condition(2, GRID, 2)
    cond["exact"] = -jnp.ones_like(cond["exact"])
    assert not np.allclose(net.apply(params, z, lam, cond)["coords"], base["coords"])
    assert not np.allclose(
        net.apply(params, z, lam + 3.0, empty_condition(2, GRID, 2))["coords"], base["coords"]
    )


def test_aux_ignored_when_masked_and_used_when_present(net_and_params):
    net, params = net_and_params
    z, lam = _inputs()
    c0 = empty_condition(2, GRID, 2)
    c1 = dict(c0, aux=jnp.ones((2, 2)) * 3.0)  # mask still 0: values must not matter
    np.testing.assert_allclose(
        net.apply(params, z, lam, c0)["lattice"], net.apply(params, z, lam, c1)["lattice"]
    )
    c2 = dict(c1, aux_mask=jnp.ones((2,)))
    assert not np.allclose(
        net.apply(params, z, lam, c2)["lattice"], net.apply(params, z, lam, c0)["lattice"]
    )


def test_dropout_only_in_training(net_and_params):
    net, params = net_and_params
    z, lam = _inputs()
    c = empty_condition(2, GRID, 2)
    a = net.apply(params, z, lam, c, train=True, rngs={"dropout": jax.random.key(1)})
    b = net.apply(params, z, lam, c, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a["coords"], b["coords"])
    np.testing.assert_array_equal(
        net.apply(params, z, lam, c)["coords"], net.apply(params, z, lam, c)["coords"]
    )


def test_timestep_embedding_shape():
    e = timestep_embedding(jnp.array([-20.0, 0.0, 20.0]), 9)
    assert e.shape == (3, 9) and bool(jnp.isfinite(e).all())


def test_condition_from_coords_and_dropout():
    coords = -jnp.ones((4, *GRID, 3))
    coords = coords.at[:, 0, 1, 2].set(0.3).at[:, 1, 1, 2].set(0.6)
    mask = jnp.ones(GRID[1:], bool)
    cond = condition_from_coords(coords, mask)
    assert float(cond["exact"].sum()) == 4 * (2 - (GRID[0] * 35 - 2))
    assert float(cond["types"][0, 1, 2]) == 1.0 and float(cond["types"][0, 0, 0]) == -1.0
    cond = dict(cond, aux=jnp.ones((4, 1)), aux_mask=jnp.ones((4,)))
    all_dropped = drop_conditioning(
        jax.random.key(0), cond, p_uncond=1.0, p_types=0.0, p_aux_drop=1.0
    )
    assert float(jnp.abs(all_dropped["exact"]).sum()) == 0.0
    assert float(jnp.abs(all_dropped["types"]).sum()) == 0.0
    assert float(all_dropped["aux_mask"].sum()) == 0.0 and float(all_dropped["aux"].sum()) == 0.0
    kept = drop_conditioning(jax.random.key(0), cond, p_uncond=0.0, p_types=0.0, p_aux_drop=0.0)
    np.testing.assert_array_equal(kept["exact"], cond["exact"])
    types_only = drop_conditioning(
        jax.random.key(0), cond, p_uncond=0.0, p_types=1.0, p_aux_drop=0.0
    )
    assert float(jnp.abs(types_only["exact"]).sum()) == 0.0
    np.testing.assert_array_equal(types_only["types"], cond["types"])


@pytest.mark.parametrize(
    ("shape", "kernel", "strides"),
    [
        ((2, 3, 6, 17, 5), (3, 3, 3), (1, 1, 1)),
        ((2, 4, 6, 18, 4), (3, 3, 3), (2, 2, 2)),
        ((1, 5, 3, 7, 3), (3, 3, 3), (2, 2, 2)),
        ((2, 3, 2, 5, 6), (1, 1, 1), (1, 1, 1)),
    ],
)
def test_conv_as_2d_equals_flax_3d_conv(shape, kernel, strides):
    """unet.Conv (3D conv computed as a 2D one) = flax.linen.Conv with the same parameters."""
    import flax.linen as nn

    from genflow.model.unimat.unet import Conv

    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.Conv(7, kernel, strides=strides)
    params = ref.init(jax.random.key(1), x)
    params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero bias too
    ours = Conv(7, kernel, strides=strides)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(
        jnp.shape, params
    )
    np.testing.assert_allclose(ours.apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)
