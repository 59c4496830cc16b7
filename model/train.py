"""Train UniMat or StructRepDiff: one flat script (big_vision ``train.py`` style), data-parallel.

Run ``genflow train CONFIG --workdir DIR`` or ``python -m genflow.model.train CONFIG DIR``.
The run is a pure function of (config, seed): step ``i`` draws its batch indices from
``numpy.random.default_rng([seed, i])`` and its JAX randomness from ``fold_in(key, i)``, so a
run killed at any point and resumed from its last orbax checkpoint ends bit-for-bit where an
uninterrupted run would (on the same machine and device count).

Workdir layout: ``meta.json`` (config, element table, L, normalisation stats; written once,
reused on resume), ``checkpoints/<step>/`` (orbax), ``log.jsonl`` (one JSON line per log step).
``config.model_name`` picks the data/step hooks (:func:`_model_hooks`): UniMat's live in
:mod:`genflow.model.unimat.train`, StructRepDiff's in :mod:`genflow.model.structrepdiff.train`;
this module holds the loop both use.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

import genflow.model.sharding as shd
from genflow.core.progress import progress_bar
from genflow.model.configs import get_config

__all__ = ["batch_indices", "main", "shard_train"]


def _model_hooks(config: ml_collections.ConfigDict):
    """(load_training_data, make_train_step, prepare_arrays) for ``config.model_name``."""
    name = config.get("model_name", "unimat")
    if name == "unimat":
        from genflow.model.unimat import train as unimat

        return unimat.load_training_data, unimat.make_train_step, unimat.prepare_arrays
    if name == "structrepdiff":
        from genflow.model.structrepdiff import train as srd

        return srd.load_training_data, srd.make_train_step, srd.prepare_arrays
    raise ValueError(f"unknown model_name {name!r}; known: unimat, structrepdiff")


def batch_indices(seed: int, step: int, n: int, batch: int) -> np.ndarray:
    """Indices of step ``step``'s batch: a pure function of (seed, step), so resumable."""
    return np.random.default_rng([seed, step]).choice(n, size=batch, replace=n < batch)


# ============================================================================ sharded step
def shard_train(init_fn, train_step, mesh, *, seed: int, keys: list[str], donate: bool = True):
    """Initialise the state replicated on ``mesh`` and jit the step data-parallel over it.

    Returns ``(state, step_fn)``; ``step_fn(state, batch)`` expects a batch sharded with
    :func:`genflow.model.sharding.shard_batch` (it is re-placed otherwise).
    """
    abstract = jax.eval_shape(init_fn, jax.random.key(seed))
    state_sh = shd.shardings_for(abstract, mesh)
    state = jax.jit(init_fn, out_shardings=state_sh)(jax.random.key(seed))
    batch_sh = {k: shd.batch_sharding(mesh) for k in keys}
    step_fn = jax.jit(
        train_step,
        in_shardings=(state_sh, batch_sh),
        out_shardings=(state_sh, shd.replicated(mesh)),
        donate_argnums=(0,) if donate else (),
    )
    return state, step_fn


# ============================================================================ main
def main(
    config: ml_collections.ConfigDict | str,
    workdir: str | Path,
    *,
    steps: int | None = None,
    progress: bool = False,
    devices: list[jax.Device] | None = None,
    data: tuple[dict[str, np.ndarray], dict] | None = None,
    start_state: dict[str, Any] | None = None,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Train (or resume) until ``steps`` (default ``config.train.total_steps``) updates.

    ``data`` is ``(arrays, meta)`` as the model's ``load_training_data`` returns them (e.g.
    unpacked from a file carried to another machine), instead of loading ``config.data``.
    ``start_state`` is a saved state (:meth:`TrainState.to_saveable`) to start from when the
    workdir has no checkpoint yet. ``max_seconds`` is a wall-clock budget: when it is spent,
    the run saves a checkpoint and stops, like a SIGTERM.

    Returns a summary dict (final step, last loss, wall time, workdir).
    """
    t_start = time.time()
    config = get_config(config) if isinstance(config, str) else config
    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    total = int(steps or config.train.total_steps)

    # ---------------------------------------------------------------- data + metadata
    load_data, make_step, prepare = _model_hooks(config)
    arrays, meta = load_data(config) if data is None else data
    meta_path = workdir / "meta.json"
    if meta_path.exists():  # resume: keep the stats the run started with
        old = json.loads(meta_path.read_text())
        same_layout = all(old.get(k) == meta.get(k) for k in ("table", "spec"))
        if old["config"]["model"] != meta["config"]["model"] or not same_layout:
            raise ValueError(
                f"{workdir} holds a run with a different model, element table or representation"
            )
        meta = old
    else:
        meta_path.write_text(json.dumps(meta, indent=1))
    arrays = prepare(arrays, meta)
    n_rows = len(next(iter(arrays.values())))
    _log(f"data: {meta['data']['rows_encoded']} rows encoded, {meta['data']['skipped']} skipped")

    # ---------------------------------------------------------------- mesh, state, step
    mesh = shd.make_mesh(devices)
    batch_size = int(config.train.batch_size)
    if batch_size % mesh.devices.size:
        raise ValueError(f"batch_size {batch_size} not divisible by {mesh.devices.size} devices")
    _, init_fn, train_step = make_step(config, meta)
    state, step_fn = shard_train(init_fn, train_step, mesh, seed=config.seed, keys=list(arrays))

    # ---------------------------------------------------------------- checkpoints
    mngr = ocp.CheckpointManager(
        workdir / "checkpoints",
        options=ocp.CheckpointManagerOptions(
            max_to_keep=int(config.train.keep_ckpts), enable_async_checkpointing=False
        ),
    )
    if mngr.latest_step() is not None:
        target = jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
            state.to_saveable(),
            shd.shardings_for(state.to_saveable(), mesh),
        )
        restored = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore(target))
        state = state.from_saveable(restored)
        _log(f"resumed from checkpoint step {int(state.step)}")
    elif start_state is not None:
        placed = jax.device_put(start_state, shd.shardings_for(state.to_saveable(), mesh))
        state = state.from_saveable(placed)
        _log(f"started from the given state at step {int(state.step)}")

    # ---------------------------------------------------------------- loop
    log_file = (workdir / "log.jsonl").open("a")
    first = int(state.step)
    metrics: dict[str, float] = {}
    bar = progress_bar("training", total=total, completed=first, enabled=progress)
    t_loop = time.time()
    stop = _StopRequest()  # SIGTERM/SIGINT (a batch scheduler's time limit): save, then stop
    for step in range(first, total):
        idx = batch_indices(config.seed, step, n_rows, batch_size)
        batch = shd.shard_batch({k: v[idx] for k, v in arrays.items()}, mesh)
        state, m = step_fn(state, batch)
        done = step + 1
        if max_seconds is not None and time.time() - t_start > max_seconds:
            stop.requested = stop.requested or "time budget"
        if done % config.train.log_every == 0 or done == total:
            metrics = {k: float(v) for k, v in m.items()}
            rate = (done - first) / max(time.time() - t_loop, 1e-9)
            record = {"step": done, **metrics, "steps_per_s": rate, "time": time.time() - t_start}
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            if not bar.enabled:
                parts = ", ".join(
                    f"{k.removeprefix('loss_')} {v:.4f}"
                    for k, v in metrics.items()
                    if k.startswith("loss_")
                )
                _log(
                    f"step {done}/{total} loss {metrics['loss']:.4f}"
                    + (f" ({parts})" if parts else "")
                    + f" {rate:.2f} steps/s"
                )
        bar.update(completed=done, description=f"loss {float(m['loss']):.4f}")
        if done % config.train.ckpt_every == 0 or done == total or stop.requested:
            mngr.save(done, args=ocp.args.StandardSave(state.to_saveable()))
            mngr.wait_until_finished()
            _log(f"checkpoint saved step {done}")
        if stop.requested:
            _log(f"stopped by {stop.requested} at step {done}; run the same command to resume")
            break
    stop.restore()
    bar.close()
    log_file.close()
    mngr.close()
    return {
        "workdir": str(workdir),
        "step": int(state.step),
        "start_step": first,
        "loss": metrics.get("loss"),
        "seconds": time.time() - t_start,
    }


class _StopRequest:
    """Turn SIGTERM/SIGINT into a flag the loop checks after each step.

    A cluster's time limit or a Ctrl-C then costs at most one step, not everything since the
    last periodic checkpoint. Only the main thread can install handlers; elsewhere (e.g. a
    test runner's worker thread) the signals keep their default behaviour.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.requested = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _log(msg: str) -> None:
    print(f"[genflow.train] {msg}", flush=True)


if __name__ == "__main__":  # python -m genflow.model.train CONFIG WORKDIR [STEPS]
    args = sys.argv[1:]
    if len(args) not in (2, 3):
        sys.exit("usage: python -m genflow.model.train CONFIG WORKDIR [STEPS]")
    summary = main(args[0], args[1], steps=int(args[2]) if len(args) == 3 else None)
    print(json.dumps(summary), flush=True)
