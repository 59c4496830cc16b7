"""The denoiser-gap diagnostic (issue 24) on the bundled Perov-5 checkpoint and real crystals."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from typer.testing import CliRunner

from genflow.cli import app
from genflow.model.kinds import load_generator
from genflow.model.unimat import denoiser_gap as dg


def _broadcast_posterior_mean(coords, lattice, z, logsnr):
    """The textbook form: softmax over −‖z − α x_k‖² / 2σ² with the full (B, N, D) tensor."""
    flat = np.concatenate([coords.reshape(len(coords), -1), lattice], 1)
    zf = np.concatenate([np.asarray(z["coords"]).reshape(len(logsnr), -1), z["lattice"]], 1)
    a = np.sqrt(1 / (1 + np.exp(-logsnr)))[:, None]
    s = np.sqrt(1 / (1 + np.exp(logsnr)))[:, None]
    logits = -np.sum((zf[:, None] - a[:, :, None] * flat[None]) ** 2, -1) / (2 * s**2)
    w = np.exp(logits - logits.max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)) @ flat, a, s, zf


def test_exact_denoiser_is_the_posterior_mean():
    generator = load_generator("perov5")
    train = dg.training_arrays(generator, limit=8)  # 16 real crystals
    rng = np.random.default_rng(0)
    logsnr = np.array([-3.0, 0.0, 1.5, 4.0], np.float32)
    z = {
        "coords": rng.normal(size=(4, *train["coords"].shape[1:])).astype(np.float32),
        "lattice": rng.normal(size=(4, 6)).astype(np.float32),
    }
    x_hat, a, s, zf = _broadcast_posterior_mean(train["coords"], train["lattice"], z, logsnr)
    v = dg.exact_denoiser(train["coords"], train["lattice"], "v")(z, jnp.asarray(logsnr))
    v_flat = np.concatenate([np.asarray(v["coords"]).reshape(4, -1), v["lattice"]], 1)
    np.testing.assert_allclose(v_flat, (a * zf - x_hat) / s, rtol=2e-3, atol=2e-3)


def test_gap_table_and_steps_on_the_bundled_checkpoint():
    generator = load_generator("perov5")
    train = dg.training_arrays(generator, limit=16)
    levels = dg.noise_level_gap(generator, train, rows=16, logsnrs=(-2.0, 1.0, 4.0), repeats=1)
    assert [r.logsnr for r in levels] == [-2.0, 1.0, 4.0]
    assert all(r.data_atoms == 5.0 for r in levels)  # every Perov-5 crystal has 5 sites
    # the exact denoiser of the set recovers it once the noise is small ...
    assert levels[2].exact_atoms == 5.0 and levels[2].exact_occupied < 1e-6
    # ... and is a lower bound the network does not beat on its own training crystals
    for r in levels:
        assert r.net_occupied >= r.exact_occupied and r.net_null >= r.exact_null * 0.99
    per_step = dg.occupancy_per_step(generator, train, n=8, num_steps=8)
    assert [r.step for r in per_step] == list(range(8))
    assert per_step[-1].exact_atoms == 5.0  # the exact sampler ends on training occupancies
    logsnrs = [r.logsnr for r in per_step]
    assert logsnrs == sorted(logsnrs) and logsnrs[0] == -20.0


def test_cli_json_plot_and_a_clear_error_for_a_structrepdiff_checkpoint(tmp_path):
    runner = CliRunner()
    args = ["eval", "denoiser-gap", "--checkpoint", "perov5", "--rows", "8", "--limit", "8",
            "--samples", "8", "--steps", "4", "--repeats", "1", "--json",
            "--out", str(tmp_path)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["training_rows"] == 16 and len(out["steps"]) == 4
    assert {"net_occupied", "exact_atoms", "data_atoms"} <= set(out["noise_levels"][0])
    png = tmp_path / "atoms.png"
    assert out["plots"]["atoms"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(app, ["eval", "denoiser-gap", "--checkpoint", "structrepdiff-perov5"])
    message = " ".join(bad.output.replace("│", " ").split())  # rich wraps it in a box
    assert bad.exit_code == 2 and "is a structrepdiff checkpoint" in message, message
    jax.clear_caches()
