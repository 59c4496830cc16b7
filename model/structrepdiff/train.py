"""StructRepDiff pieces for the shared training script (:mod:`genflow.model.train`).

``genflow.model.train.main`` picks these three hooks when ``config.model_name ==
"structrepdiff"``: everything else (resumable batches, orbax checkpoints, EMA, sharding, logs)
is the UniMat machinery unchanged. The loss is the ε-prediction MSE of
:func:`genflow.model.diffusion.loss_fn` on the standardised representation (Eq. R-1).
"""

from __future__ import annotations

import json
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import genflow.model.diffusion as diffusion
from genflow.model.structrepdiff.ead import EADParams
from genflow.model.structrepdiff.representation import RepNorm, RepSpec, encode
from genflow.model.structrepdiff.unet1d import UNet1D
from genflow.model.train_state import TrainState, make_optimizer

__all__ = ["build_model", "ead_params", "load_training_data", "make_train_step", "prepare_arrays"]


def ead_params(config: ml_collections.ConfigDict) -> EADParams:
    """Descriptor settings of a config."""
    e = config.ead
    return EADParams(float(e.cutoff), tuple(e.etas), tuple(e.r_s), int(e.l_max))


def build_model(model_config: Any) -> UNet1D:
    """The denoiser of a config's ``model`` block."""
    m = model_config
    return UNet1D(
        dim=int(m.dim),
        dim_mults=tuple(m.dim_mults),
        heads=int(m.heads),
        dim_head=int(m.dim_head),
        groups=int(m.groups),
    )


def load_training_data(config: ml_collections.ConfigDict) -> tuple[dict[str, np.ndarray], dict]:
    """Encode ``config.data`` into R (raw); meta holds the spec and normalisation statistics.

    Rows that cannot be encoded are skipped and counted in ``meta["data"]``.
    """
    from genflow.model.data import load_dataset, portable_path

    limit = int(config.data.get("limit", 0)) or None
    ds = load_dataset(config.data.source, limit=limit)
    spec = RepSpec.from_structures(ds.structures, ead_params(config))
    reps, errors = encode(list(ds.structures), spec)
    ok = np.array([e is None for e in errors])
    if not ok.any():
        raise ValueError(f"dataset {config.data.source!r}: no row could be encoded")
    reps = reps[ok]
    meta = {
        "model_name": config.model_name,
        "config": json.loads(config.to_json()),
        "spec": spec.to_dict(),
        "norm": RepNorm.fit(reps.astype(np.float64)).to_dict(),
        "data": {
            "source": str(config.data.source),
            "sources": [portable_path(s) for s in ds.sources],
            "rows_encoded": int(ok.sum()),
            "skipped": int((~ok).sum()) + len(ds.failures),
            "skipped_examples": [e for e in errors if e][:5],
        },
    }
    return {"rep": reps.astype(np.float32)}, meta


def prepare_arrays(arrays: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """Standardise R with the statistics the run started with."""
    norm = RepNorm.from_dict(meta["norm"])
    return {"rep": np.asarray(norm.normalize(arrays["rep"]), np.float32)}


def make_train_step(config: ml_collections.ConfigDict, meta: dict):
    """Return ``(model, init_fn(rng) -> TrainState, train_step(state, batch))``."""
    dim = RepSpec.from_dict(meta["spec"]).dim
    model = build_model(config.model)
    schedule = diffusion.schedule_from_config(config.diffusion)
    tx = make_optimizer(
        lr=config.optim.lr, b1=config.optim.b1, b2=config.optim.b2, grad_clip=config.optim.grad_clip
    )

    def init_fn(rng: jax.Array) -> TrainState:
        k_param, k_state = jax.random.split(rng)
        params = model.init(k_param, jnp.zeros((1, dim)), jnp.zeros((1,)))
        return TrainState.create(
            params=params, tx=tx, rng=k_state, ema_decay=config.optim.ema_decay
        )

    def train_step(state: TrainState, batch: dict[str, jax.Array]):
        k_loss = jax.random.fold_in(state.rng, state.step)
        assert batch["rep"].shape[1:] == (dim,), batch["rep"].shape

        def loss(params):
            def model_fn(z, logsnr):
                return {"rep": model.apply(params, z["rep"], logsnr)}

            return diffusion.loss_fn(
                model_fn=model_fn, x={"rep": batch["rep"]}, rng=k_loss, schedule=schedule
            )

        (value, _), grads = jax.value_and_grad(loss, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        metrics = {
            "loss": value,
            "grad_norm": jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads))),
        }
        return state, metrics

    return model, init_fn, train_step
