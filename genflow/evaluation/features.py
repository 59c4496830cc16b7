"""CDVAE's structure and composition fingerprints, parallel over processes and cached on disk.

Definitions (CDVAE ``scripts/compute_metrics.py``, ``Crystal.get_fingerprints``; DiffCSP's
``scripts/compute_metrics.py`` is the same):

* structure fingerprint: mean over sites of matminer
  ``CrystalNNFingerprint.from_preset("ops")`` (61 numbers); a structure whose site
  fingerprint raises has none (CDVAE then counts the crystal as invalid);
* composition fingerprint: matminer ``ElementProperty.from_preset("magpie")`` of the
  composition (132 numbers), later standardised with CDVAE's fixed ``CompScaler``
  (:func:`standardise_composition`). CDVAE does not standardise the structure fingerprint.

Featurising costs ~0.1-1 s per structure (CrystalNN), so :func:`featurise` looks each
structure up in a content-hash cache first (one ``.npz`` per structure under
``DATA_DIR/eval_cache/fingerprints-v1``), computes the rest in a process pool, and draws a bar.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from genflow.core.processes import pool_context
from genflow.core.progress import track

__all__ = [
    "CACHE_VERSION",
    "Fingerprints",
    "default_cache_dir",
    "featurise",
    "featurise_one",
    "standardise_composition",
    "structure_hash",
]

CACHE_VERSION = "fingerprints-v1"
_SCALER_PATH = Path(__file__).parent / "data" / "cdvae_comp_scaler.json"


@dataclass(frozen=True)
class Fingerprints:
    """One structure's fingerprints; ``structure`` is None when CrystalNN raised."""

    structure: np.ndarray | None
    composition: np.ndarray


def default_cache_dir() -> Path:
    """``DATA_DIR/eval_cache/fingerprints-v1`` (settings' data directory)."""
    from genflow.core.settings import get_settings

    return Path(get_settings().DATA_DIR) / "eval_cache" / CACHE_VERSION


def structure_hash(structure: Structure) -> str:
    """Content hash of a structure: lattice, species and fractional coordinates (1e-6)."""
    payload = {
        "lattice": np.round(structure.lattice.matrix, 6).tolist(),
        "species": [str(sp) for sp in structure.species],
        "frac": np.round(structure.frac_coords % 1.0, 6).tolist(),
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


@cache
def _featurisers():
    from matminer.featurizers.composition.composite import ElementProperty
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    return CrystalNNFingerprint.from_preset("ops"), ElementProperty.from_preset("magpie")


def featurise_one(structure: Structure) -> Fingerprints:
    """CDVAE's fingerprints of one structure (computed, never cached)."""
    site_fp, comp_fp = _featurisers()
    comp = np.asarray(comp_fp.featurize(structure.composition.element_composition), dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CrystalNN's "cannot locate radius" chatter
            sites = [site_fp.featurize(structure, i) for i in range(len(structure))]
        struct = np.asarray(sites, dtype=float).mean(axis=0)
    except Exception:  # CDVAE: a fingerprint that cannot be built marks the crystal invalid
        struct = None
    return Fingerprints(struct, comp)


def _worker(payload: dict) -> tuple[np.ndarray | None, np.ndarray]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    fp = featurise_one(Structure.from_dict(payload))
    return fp.structure, fp.composition


def _load(path: Path) -> Fingerprints | None:
    try:
        with np.load(path) as data:
            struct = data["structure"]
            return Fingerprints(struct if struct.size else None, data["composition"])
    except (OSError, KeyError, ValueError):
        return None  # a torn or foreign file: recompute


def _save(path: Path, fp: Fingerprints) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    struct = fp.structure if fp.structure is not None else np.zeros(0)
    np.savez(tmp, structure=struct, composition=fp.composition)
    tmp.replace(path)  # atomic: parallel runs never read half a file


def featurise(
    structures: Sequence[Structure],
    *,
    processes: int | None = None,
    cache_dir: Path | bool | None = None,
    progress: bool = True,
    description: str = "fingerprints",
) -> list[Fingerprints]:
    """Fingerprints of many structures, in input order.

    Parameters
    ----------
    structures
        Structures to featurise.
    processes
        Worker processes for the uncached ones (default: ``os.cpu_count()``; 1 runs in
        this process).
    cache_dir
        Where per-structure results live (default :func:`default_cache_dir`; ``False``
        disables the cache).
    progress
        Draw a bar (only on a terminal).
    """
    if cache_dir is None:
        cache_dir = default_cache_dir()
    keys = [structure_hash(s) for s in structures]
    out: list[Fingerprints | None] = [None] * len(structures)
    todo: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        hit = _load(Path(cache_dir) / key[:2] / f"{key}.npz") if cache_dir else None
        if hit is not None:
            out[i] = hit
        else:
            todo.setdefault(key, []).append(i)
    jobs = [(key, idx) for key, idx in todo.items()]
    payloads = [structures[idx[0]].as_dict() for _, idx in jobs]
    n_proc = max(1, min(processes or os.cpu_count() or 1, len(jobs)))
    if n_proc == 1:
        results = (_worker(p) for p in payloads)
        pool = None
    else:
        pool = ProcessPoolExecutor(n_proc, mp_context=pool_context())
        results = pool.map(_worker, payloads, chunksize=max(1, len(payloads) // (8 * n_proc)))
    try:
        for (key, idx), (struct, comp) in zip(
            jobs, track(results, description, total=len(jobs), enabled=progress), strict=True
        ):
            fp = Fingerprints(struct, comp)
            if cache_dir:
                _save(Path(cache_dir) / key[:2] / f"{key}.npz", fp)
            for i in idx:
                out[i] = fp
    finally:
        if pool is not None:
            pool.shutdown()
    return out  # type: ignore[return-value]


@cache
def _scaler() -> tuple[np.ndarray, np.ndarray]:
    data = json.loads(_SCALER_PATH.read_text())
    return np.asarray(data["means"], dtype=float), np.asarray(data["stds"], dtype=float)


def standardise_composition(comp_fps: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    r"""CDVAE's ``CompScaler.transform``: fixed means and standard deviations, NaN → 0.

    .. math:: \tilde x_j = (x_j - \mu_j) / \sigma_j, \quad \tilde x_j \leftarrow 0
              \text{ where NaN}

    μ, σ: ``CompScalerMeans`` / ``CompScalerStds`` of CDVAE ``cdvae/common/constants.py``
    (``data/cdvae_comp_scaler.json``), used for every dataset.
    """
    means, stds = _scaler()
    x = np.asarray(comp_fps, dtype=float).reshape(-1, len(means))
    z = (x - means) / stds
    return np.where(np.isnan(z), 0.0, z)
