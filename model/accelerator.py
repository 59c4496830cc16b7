"""Train a config for a wall-clock budget on whatever JAX device is present, in carry-sized files.

``scripts/train-accelerator CONFIG MINUTES [--resume CKPT_DIR]`` drives this module. It exists
so a short lease on a GPU machine that cannot reach anything (no ``../shared``, a 64 MiB limit on
what travels each way) can continue a run and bring the result back:

* **Data pack** (:func:`pack_data` / :func:`unpack_data`): the encoded training set as one
  compressed ``.npz``, stored sparsely (only occupied slots of the UniMat tensor: row, flat slot
  index, xyz), so MP-20's ~27k rows take a few MiB instead of the ~400 MiB dense tensor. The
  run's ``meta.json`` (element table, L, lattice normalisation) travels inside it.
* **Sharded state** (:func:`save_state` / :func:`load_state`): the whole training state
  (parameters, EMA, Adam moments, step, RNG) as ``state-NNN.npz`` files of at most
  :data:`MAX_FILE_BYTES` each, plus ``state.json`` (the leaf order and shapes) and the exported
  generator files (``meta.json``, ``params.msgpack`` = EMA parameters), so the output directory
  is both a resumable state and a checkpoint ``genflow sample --checkpoint DIR`` loads. The whole
  directory must stay under :data:`MAX_TOTAL_BYTES`; a model too large for that is refused
  before training starts (parameters × 4 arrays × 4 bytes).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "load_state",
    "pack_data",
    "run",
    "save_state",
    "unpack_data",
]

MAX_FILE_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
_SHARD_BYTES = 15 * 2**20  # leaves are grouped up to this; zip headers fit in the rest


# ---------------------------------------------------------------------------- data pack
def pack_data(arrays: dict[str, np.ndarray], meta: dict, path: Path) -> Path:
    """Write ``(arrays, meta)`` of ``load_training_data`` to ``path`` (compressed ``.npz``).

    ``coords`` (N, L, H, W, 3) is stored sparsely: its occupied slots only. Raises
    ``ValueError`` if the file ends up over :data:`MAX_TOTAL_BYTES`.
    """
    path = Path(path)
    out: dict[str, np.ndarray] = {"meta_json": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for key, value in arrays.items():
        if key == "coords":
            flat = value.reshape(len(value), -1, 3)
            row, slot = np.nonzero(flat.mean(-1) >= -0.5)
            out["coords_shape"] = np.asarray(value.shape, np.int64)
            out["coords_row"] = row.astype(np.int32)
            out["coords_slot"] = slot.astype(np.int32)
            out["coords_xyz"] = flat[row, slot].astype(np.float32)
        else:
            out[key] = np.asarray(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    if path.stat().st_size > MAX_TOTAL_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size / 2**20:.1f} MiB > 64 MiB")
    return path


def unpack_data(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Inverse of :func:`pack_data`: ``(arrays, meta)`` with the dense coordinate tensor."""
    with np.load(path) as z:
        meta = json.loads(z["meta_json"].tobytes().decode())
        arrays: dict[str, np.ndarray] = {}
        if "coords_shape" in z:
            shape = tuple(int(v) for v in z["coords_shape"])
            flat = np.full((shape[0], math.prod(shape[1:-1]), 3), -1.0, np.float32)
            flat[z["coords_row"], z["coords_slot"]] = z["coords_xyz"]
            arrays["coords"] = flat.reshape(shape)
        for key in z.files:
            if key != "meta_json" and not key.startswith("coords_"):
                arrays[key] = z[key]
    return arrays, meta


# ---------------------------------------------------------------------------- sharded state
def _named_leaves(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(p), leaf) for p, leaf in flat]


def save_state(saveable: dict[str, Any], meta: dict, out: Path) -> list[Path]:
    """Write a training state as ≤ 16 MiB shards + the exported generator files in ``out``.

    A leaf larger than a shard is split along its flattened values. Returns the files written.
    """
    from flax import serialization

    from genflow.model.registry import PARAMS_FILE

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("state-*.npz"):
        old.unlink()
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    index = []
    for name, leaf in _named_leaves(saveable):
        arr = np.asarray(leaf)
        flat = arr.reshape(-1)
        per = max(1, _SHARD_BYTES // max(arr.itemsize, 1))
        parts = []
        for k, start in enumerate(range(0, max(flat.size, 1), per)):
            piece = flat[start : start + per]
            if size + piece.nbytes > _SHARD_BYTES and shards[-1]:
                shards.append({})
                size = 0
            key = f"{len(index)}_{k}"
            shards[-1][key] = piece
            size += piece.nbytes
            parts.append([len(shards) - 1, key])
        index.append({"name": name, "shape": list(arr.shape), "dtype": str(arr.dtype),
                      "parts": parts})  # fmt: skip
    files = []
    for i, shard in enumerate(shards):
        path = out / f"state-{i:03d}.npz"
        np.savez(path, **shard)
        files.append(path)
    (out / "state.json").write_text(json.dumps({"leaves": index}, indent=0))
    params = jax.tree.map(np.asarray, saveable["ema_params"])
    (out / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(params))
    meta = dict(meta, step=int(np.asarray(saveable["step"])))
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    files += [out / "state.json", out / PARAMS_FILE, out / "meta.json"]
    too_big = [f.name for f in files if f.stat().st_size > MAX_FILE_BYTES]
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    if too_big or total > MAX_TOTAL_BYTES:
        raise ValueError(f"{out}: files over 16 MiB {too_big}, {total / 2**20:.1f} MiB in all")
    return files


def load_state(ckpt_dir: Path, like: Any) -> dict[str, Any]:
    """Read a state written by :func:`save_state` into the structure of ``like``
    (e.g. ``jax.eval_shape`` of a fresh state's ``to_saveable()``)."""
    ckpt_dir = Path(ckpt_dir)
    index = json.loads((ckpt_dir / "state.json").read_text())["leaves"]
    names = _named_leaves(like)
    if [n for n, _ in names] != [e["name"] for e in index]:
        raise ValueError(f"{ckpt_dir}: saved state does not match this config's model")
    shards: dict[int, Any] = {}
    leaves = []
    for entry in index:
        pieces = []
        for shard, key in entry["parts"]:
            if shard not in shards:
                shards[shard] = np.load(ckpt_dir / f"state-{shard:03d}.npz")
            pieces.append(shards[shard][key])
        arr = np.concatenate(pieces) if pieces else np.zeros(0)
        leaves.append(arr.astype(entry["dtype"]).reshape(entry["shape"]))
    for z in shards.values():
        z.close()
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), leaves)


def state_bytes(config: ml_collections.ConfigDict, meta: dict) -> int:
    """Bytes of the saved state: (params + EMA + 2 Adam moments) × float32."""
    from genflow.model.train import _model_hooks

    _, make_step, _ = _model_hooks(config)
    _, init_fn, _ = make_step(config, meta)
    shapes = jax.eval_shape(init_fn, jax.random.key(0))
    n_params = sum(math.prod(x.shape) for x in jax.tree.leaves(shapes.params))
    return 4 * 4 * n_params


# ---------------------------------------------------------------------------- the run
def run(
    config_name: str,
    minutes: float,
    out: Path,
    *,
    resume: Path | None = None,
    data: Path | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    """Train ``config_name`` for ``minutes`` of wall clock and write the state to ``out``.

    ``data`` is a pack (:func:`pack_data`); without it the config's data are loaded and packed
    to ``out/../data-<config>.npz`` for the next trip. ``resume`` is a directory written by a
    previous run (its ``meta.json`` — normalisation, table — wins). Up to ``steps`` updates
    (default: the config's total).
    """
    from genflow.model.configs import get_config
    from genflow.model.train import _model_hooks, main

    t0 = time.time()
    config = get_config(config_name)
    out = Path(out)
    if data is not None:
        arrays, meta = unpack_data(data)
    else:
        load_data, _, _ = _model_hooks(config)
        arrays, meta = load_data(config)
        # a file name for any config string: perov5:tiny,steps=9 -> perov5_tiny_steps_9
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", config_name)
        pack_data(arrays, meta, out.parent / f"data-{safe}.npz")
    if resume is not None:
        meta = json.loads((Path(resume) / "meta.json").read_text())
        meta.pop("step", None)
    need = state_bytes(config, meta)
    if need > MAX_TOTAL_BYTES - 2**20:
        raise ValueError(f"{config_name}: the state is {need / 2**20:.0f} MiB > 64 MiB")
    _, make_step, _ = _model_hooks(config)
    _, init_fn, _ = make_step(config, meta)
    like = jax.eval_shape(lambda k: init_fn(k).to_saveable(), jax.random.key(0))
    start = load_state(Path(resume), like) if resume is not None else None
    with tempfile.TemporaryDirectory(prefix="genflow-accel-") as work:
        (Path(work) / "meta.json").write_text(json.dumps(meta))
        # export needs time too: stop training 10 % (at least 10 s) before the budget
        budget = minutes * 60 - (time.time() - t0)
        budget -= max(10.0, 0.1 * minutes * 60)
        summary = main(config, work, data=(arrays, meta), start_state=start,
                       max_seconds=max(budget, 1.0), steps=steps)  # fmt: skip
        import orbax.checkpoint as ocp

        one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=one), like)
        with ocp.CheckpointManager(Path(work) / "checkpoints") as mngr:
            saved = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore(target))
        if out.exists() and resume is not None and out.resolve() == Path(resume).resolve():
            pass  # overwriting the state we resumed from: save_state replaces the shards
        elif out.exists():
            shutil.rmtree(out)
        files = save_state(saved, meta, out)
    summary.update(
        device=str(jax.devices()[0]),
        out=str(out),
        files={f.name: f.stat().st_size for f in files},
        total_bytes=sum(f.stat().st_size for f in files),
        seconds=time.time() - t0,
    )
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    return summary
