"""The checkpoint registry: bundled names, where checkpoints live, and their content hash.

Shared by both checkpoint models (UniMat, StructRepDiff) and the kind dispatch
(:mod:`genflow.model.kinds`). A checkpoint is either an *exported generator* directory
(``meta.json`` + ``params.msgpack``: the EMA parameters only, as bundled in
``model/checkpoints/``) or a *training workdir* (``meta.json`` + orbax ``checkpoints/<step>/``).
This module imports no JAX at import time: the spec loader checks checkpoints with
:func:`checkpoint_model_name`.

>>> checkpoint_model_name("structrepdiff-perov5")
'structrepdiff'
>>> checkpoint_kind_error("unimat", "structrepdiff-perov5")
"checkpoint 'structrepdiff-perov5' is a structrepdiff checkpoint, not unimat"
>>> checkpoint_hash(b"abc", short=True)
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BUNDLED_CHECKPOINT",
    "CHECKPOINTS",
    "CHECKPOINT_DIR",
    "CHECKPOINT_KINDS",
    "DEFAULT_CHECKPOINT",
    "PARAMS_FILE",
    "SHORT_HASH_CHARS",
    "TRAIN_CONFIGS",
    "bundled_names",
    "checkpoint_files_hash",
    "checkpoint_hash",
    "checkpoint_kind_error",
    "checkpoint_model_name",
    "checkpoint_training_set",
    "export_checkpoint",
    "resolve_checkpoint",
    "restore_ema",
]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
#: Checkpoint names (``--checkpoint NAME``, a spec's ``generator.checkpoint``) → directory under
#: ``model/checkpoints/``. A registered name whose directory is absent was not trained for this
#: release; its config is ready (:data:`TRAIN_CONFIGS`).
CHECKPOINTS: dict[str, str] = {
    "perov5": "perov5_runlocal",
    "unimat-perov5": "perov5_runlocal",
    "carbon24": "carbon24_runlocal",
    "mp20": "mp20_runlocal",
    "structrepdiff-perov5": "structrepdiff_perov5_runlocal",
}
#: The ``genflow train`` config that produces each registered checkpoint.
TRAIN_CONFIGS = {
    "perov5": "perov5:runlocal",
    "unimat-perov5": "perov5:runlocal",
    "carbon24": "carbon24:runlocal",
    "mp20": "mp20:runlocal",
    "structrepdiff-perov5": "structrepdiff-perov5:runlocal",
}
DEFAULT_CHECKPOINT = "perov5"
BUNDLED_CHECKPOINT = CHECKPOINT_DIR / CHECKPOINTS[DEFAULT_CHECKPOINT]
#: Kinds that sample a checkpoint, and the default checkpoint of each.
CHECKPOINT_KINDS = {"unimat": DEFAULT_CHECKPOINT, "structrepdiff": "structrepdiff-perov5"}


def resolve_checkpoint(checkpoint: str | Path | None = None) -> Path:
    """Directory of a checkpoint given by bundled name, by path, or ``None`` (the default).

    A registered name wins over a relative directory of the same name; write ``./perov5``
    for the directory.

    Raises
    ------
    ValueError
        Neither a registered name nor an existing path (the message lists the names).
    FileNotFoundError
        A registered name whose checkpoint is not bundled in this install.
    """
    text = DEFAULT_CHECKPOINT if checkpoint is None else str(checkpoint)
    if text in CHECKPOINTS:
        root = CHECKPOINT_DIR / CHECKPOINTS[text]
        if not (root / "meta.json").is_file():
            config = TRAIN_CONFIGS.get(text, f"{text}:runlocal")
            raise FileNotFoundError(
                f"checkpoint {text!r} is registered but not bundled in this install "
                f"(bundled: {', '.join(bundled_names()) or 'none'}); train it with "
                f"`genflow train {config} --workdir runs/{text}` and pass --checkpoint runs/{text}"
            )
        return root
    path = Path(text).expanduser()
    if not path.exists():
        raise ValueError(
            f"unknown checkpoint {text!r}: not a bundled name ({', '.join(CHECKPOINTS)}) "
            "and no such directory"
        )
    return path


def bundled_names() -> list[str]:
    """Registered checkpoint names whose directory ships with this install."""
    return [k for k, v in CHECKPOINTS.items() if (CHECKPOINT_DIR / v / "meta.json").is_file()]


def _checkpoint_meta(checkpoint: str | Path | None) -> dict | None:
    """The checkpoint's ``meta.json``; None when it cannot be found or read."""
    try:
        return json.loads((resolve_checkpoint(checkpoint) / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def checkpoint_model_name(checkpoint: str | Path | None) -> str | None:
    """``meta.json``'s ``model_name`` (``"unimat"`` when unset); None: no readable meta.json."""
    meta = _checkpoint_meta(checkpoint)
    return None if meta is None else meta.get("model_name", "unimat")


def checkpoint_training_set(checkpoint: str | Path | None) -> str | None:
    """The data set the checkpoint was trained on, as training named it (``meta.json``'s
    ``data.source``: ``"perov_5"``, ``"mp_20:train"`` or a file path); None when the
    checkpoint or that field cannot be read."""
    source = ((_checkpoint_meta(checkpoint) or {}).get("data") or {}).get("source")
    return str(source) if source else None


def checkpoint_kind_error(kind: str, checkpoint: str | Path | None) -> str | None:
    """Why ``checkpoint`` cannot serve ``kind`` (None: it can, or it cannot be read yet)."""
    if checkpoint is None:
        return None
    model = checkpoint_model_name(checkpoint)
    name = str(checkpoint)
    if model is None and name in CHECKPOINTS:  # registered, not bundled: the name says
        model = "structrepdiff" if name.startswith("structrepdiff-") else "unimat"
    if model is not None and model != kind:
        return f"checkpoint {name!r} is a {model} checkpoint, not {kind}"
    return None


PARAMS_FILE = "params.msgpack"
#: Hex characters kept by a short hash (a parameter set's, an imported file's).
SHORT_HASH_CHARS = 16


def checkpoint_hash(*parts: bytes, short: bool = False) -> str:
    """The content hash of what produced a sample: sha256 over ``parts`` in order, hex.

    One definition for every generator's ``checkpoint_hash`` provenance field: a checkpoint's
    files (:func:`checkpoint_files_hash`, the full 64 hex characters), the random search's
    parameters and an imported structure file (``short``: the first
    :data:`SHORT_HASH_CHARS`). Stored hashes depend on these exact bytes and lengths.
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    digest = h.hexdigest()
    return digest[:SHORT_HASH_CHARS] if short else digest


def checkpoint_files_hash(root: Path, files: Sequence[Path]) -> str:
    """:func:`checkpoint_hash` over each file's path relative to ``root`` and its bytes, in
    sorted order: the ``checkpoint_hash`` of a loaded checkpoint."""
    return checkpoint_hash(
        *(
            part
            for f in sorted(files)
            for part in (str(f.relative_to(root)).encode(), f.read_bytes())
        )
    )


def restore_ema(workdir: Path) -> tuple[Any, int, list[Path]]:
    """EMA params of the latest orbax step in a training workdir, the step, the files read."""
    import orbax.checkpoint as ocp

    workdir = workdir.resolve()  # orbax refuses relative paths
    mngr = ocp.CheckpointManager(workdir / "checkpoints")
    step = mngr.latest_step()
    if step is None:
        raise FileNotFoundError(f"{workdir}: no orbax checkpoint under checkpoints/")
    restored = mngr.restore(step, args=ocp.args.StandardRestore())
    mngr.close()
    files = [p for p in (workdir / "checkpoints" / str(step)).rglob("*") if p.is_file()]
    return restored["ema_params"], int(step), files


def export_checkpoint(workdir: str | Path, out: str | Path, *, extra: dict | None = None) -> Path:
    """Write the latest EMA parameters of a training workdir as a small exported generator.

    ``extra`` is merged into ``meta.json`` (e.g. training time, final loss, validity numbers).
    """
    import jax
    import numpy as np
    from flax import serialization

    workdir, out = Path(workdir), Path(out)
    meta = json.loads((workdir / "meta.json").read_text())
    params, step, _ = restore_ema(workdir)
    out.mkdir(parents=True, exist_ok=True)
    params = jax.tree.map(np.asarray, params)
    (out / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(params))
    meta["step"] = step
    meta.update(extra or {})
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out
