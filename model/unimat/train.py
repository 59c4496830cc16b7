"""UniMat's training hooks for the shared loop (:func:`genflow.model.train.main`).

``load_training_data`` encodes ``config.data`` on the periodic-table grid, ``prepare_arrays``
standardises the lattice with the run's statistics, ``make_train_step`` builds the 3D U-Net,
its optimiser and one jitted-able step (augmentation, conditioning dropout, diffusion loss).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genflow.model.data import load_dataset, portable_path
from genflow.model.diffusion import loss_fn, schedule_from_config, self_conditioned
from genflow.model.train_state import TrainState, make_optimizer
from genflow.model.unimat.augment import augment, is_atom
from genflow.model.unimat.network import (
    LatticeNorm,
    build_model,
    condition_from_coords,
    drop_conditioning,
    empty_condition,
)
from genflow.model.unimat.representation import ElementTable, encode_dataset
from genflow.model.unimat.sampler import clip_x

__all__ = ["composition_prior", "load_training_data", "make_train_step", "prepare_arrays"]


def composition_prior(coords: np.ndarray, table: ElementTable) -> dict[str, int]:
    """The training set's compositions (formula with counts, e.g. ``"Ba1 Ti1 O3"``) and how
    many rows have each: what unconditional sampling draws its atom counts from.

    Issue 24: left to place atoms in ~300 (Perov-5) to ~1,300 (MP-20) null-able slots on its
    own, the model decides every slot by thresholding a continuous value and gets the number
    of atoms wrong (an overfit run reproduced 5 sites in 6-20 % of samples). Drawing the
    composition from the training data, as CDVAE and DiffCSP draw the atom count, and
    sampling with exact-composition conditioning makes the count right by construction.
    """
    occ = coords.mean(-1) >= -0.5  # (N, L, H, W)
    per_cell = occ.sum(axis=1)  # (N, H, W)
    out: dict[str, int] = {}
    for row in per_cell:
        key = " ".join(
            f"{sym}{int(row[r, c])}"
            for sym, (r, c) in zip(table.symbols, table.positions, strict=True)
            if row[r, c]
        )
        out[key] = out.get(key, 0) + 1
    return out


def load_training_data(config: ml_collections.ConfigDict) -> tuple[dict[str, np.ndarray], dict]:
    """Load and encode ``config.data``; return host arrays and the metadata to checkpoint.

    ``arrays["lattice"]`` holds raw (Å, degrees) lattice parameters.

    Rows that cannot be encoded (e.g. more than L atoms of one element) are skipped and
    counted in ``meta["data"]["skipped"]``, with the first few reasons.
    """
    limit = int(config.data.get("limit", 0)) or None  # rows per file; 0 = all
    ds = load_dataset(config.data.source, limit=limit)
    enc = encode_dataset(ds, layout=config.data.table_layout, max_atoms=config.data.max_atoms)
    if len(enc) == 0:
        raise ValueError(f"dataset {config.data.source!r}: no row could be encoded")
    aux_names = list(config.data.aux_properties)
    missing = [k for k in aux_names if k not in enc.properties]
    if missing:
        raise ValueError(
            f"dataset {config.data.source!r} has no property column(s) {missing}; "
            f"available: {sorted(enc.properties)}"
        )
    aux = np.stack([enc.properties[k] for k in aux_names], axis=1) if aux_names else None
    aux_mean = np.nanmean(aux, axis=0) if aux is not None else np.zeros(0)
    aux_std = np.maximum(np.nanstd(aux, axis=0), 1e-6) if aux is not None else np.zeros(0)
    lattice_norm = LatticeNorm.fit(enc.lattice)
    arrays = {
        "coords": enc.coords.astype(np.float32),
        "lattice": enc.lattice.astype(np.float32),  # raw; main() normalises with meta's stats
    }
    if aux is not None:
        ok = np.isfinite(aux).all(axis=1)
        arrays["aux"] = np.where(ok[:, None], (aux - aux_mean) / aux_std, 0.0).astype(np.float32)
        arrays["aux_mask"] = ok.astype(np.float32)
    meta = {
        "model_name": config.model_name,
        "compositions": composition_prior(enc.coords, enc.table),
        "config": json.loads(config.to_json()),
        "table": enc.table.to_dict(),
        "max_atoms": int(enc.max_atoms),
        "lattice_norm": lattice_norm.to_dict(),
        "aux": {"names": aux_names, "mean": aux_mean.tolist(), "std": aux_std.tolist()},
        "data": {
            "source": str(config.data.source),
            "sources": [portable_path(s) for s in ds.sources],
            "rows_encoded": len(enc),
            "skipped": len(enc.failures),
            "skipped_examples": [f.reason for f in enc.failures[:5]],
        },
    }
    return arrays, meta


def prepare_arrays(arrays: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """UniMat: standardise the lattice parameters with the run's statistics."""
    norm = LatticeNorm.from_dict(meta["lattice_norm"])
    return dict(arrays, lattice=np.asarray(norm.normalize(arrays["lattice"]), np.float32))


def make_train_step(config: ml_collections.ConfigDict, meta: dict):
    """Return ``(model, init_fn(rng) -> TrainState, train_step(state, batch))``."""
    table = ElementTable.from_dict(meta["table"])
    grid = (meta["max_atoms"], *table.shape)
    num_aux = len(meta["aux"]["names"])
    model = build_model(config.model, table.shape, num_aux)
    schedule = schedule_from_config(config.diffusion)
    cell_mask = jnp.asarray(table.mask)
    tx = make_optimizer(
        lr=config.optim.lr, b1=config.optim.b1, b2=config.optim.b2, grad_clip=config.optim.grad_clip
    )
    weights = {"coords": 1.0, "lattice": float(config.diffusion.lattice_weight)}
    parameterization = str(config.diffusion.get("parameterization", "eps"))
    # Occupied slots are ~1-2 % of the coordinate tensor; without this weight the MSE is all
    # about nulls and an under-trained model drops atoms (see ``atom_weight`` in configs).
    atom_weight = float(config.diffusion.get("atom_weight", 1.0))
    min_snr_gamma = float(config.diffusion.get("min_snr_gamma", 0.0))

    def init_fn(rng: jax.Array) -> TrainState:
        k_param, k_state = jax.random.split(rng)
        z = {"coords": jnp.zeros((1, *grid, 3)), "lattice": jnp.zeros((1, 6))}
        params = model.init(k_param, z, jnp.zeros((1,)), empty_condition(1, grid, num_aux))
        return TrainState.create(
            params=params, tx=tx, rng=k_state, ema_decay=config.optim.ema_decay
        )

    def train_step(state: TrainState, batch: dict[str, jax.Array]):
        rng = jax.random.fold_in(state.rng, state.step)
        k_aug, k_drop, k_loss, k_dropout = jax.random.split(rng, 4)
        k_sc = jax.random.fold_in(rng, 1)  # not a 5th split: runs without it keep their keys
        coords = batch["coords"]
        if config.train.augment:
            coords = augment(k_aug, coords)
        cond = condition_from_coords(coords, cell_mask)
        if num_aux:
            cond["aux"], cond["aux_mask"] = batch["aux"], batch["aux_mask"]
        cond = drop_conditioning(
            k_drop,
            cond,
            p_uncond=config.cond.p_uncond,
            p_types=config.cond.p_types,
            p_aux_drop=config.cond.p_aux_drop,
        )
        x = {"coords": coords, "lattice": batch["lattice"]}
        slot_weights = None
        if atom_weight != 1.0:
            occupied = is_atom(coords)[..., None]
            slot_weights = {"coords": jnp.where(occupied, atom_weight, 1.0), "lattice": None}

        def loss(params):
            def model_fn(z, logsnr, x_prev=None):
                return model.apply(
                    params, z, logsnr, cond, x_prev, train=True, rngs={"dropout": k_dropout}
                )

            if model.self_condition:
                model_fn = self_conditioned(
                    model_fn, rng=k_sc, parameterization=parameterization, clip_x=clip_x
                )

            return loss_fn(
                model_fn=model_fn,
                x=x,
                rng=k_loss,
                schedule=schedule,
                weights=weights,
                parameterization=parameterization,
                element_weights=slot_weights,
                min_snr_gamma=min_snr_gamma,
            )

        (value, per_leaf), grads = jax.value_and_grad(loss, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        metrics = {
            "loss": value,
            "loss_coords": per_leaf["coords"],
            "loss_lattice": per_leaf["lattice"],
            "grad_norm": jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads))),
        }
        return state, metrics

    return model, init_fn, train_step
